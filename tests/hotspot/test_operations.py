"""What staff do to routers from afar (hotspot.operations), through the real librouteros
client against the RouterOS emulator: a router's state, a ping from it, a user kicked;
each action in the audit log under its actor."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select

from hotspot.driver import RouterDriver, RouterError
from hotspot.operations import (
    MAX_STAFF_PING_COUNT,
    check_ping_target,
    router_report,
    routers_report,
    staff_kick_login,
    staff_ping,
)
from tests.hotspot.builders import make_login, new_name
from tests.hotspot.router import ACTIVE, HotspotRouter, keyring, register
from wallet.errors import InvalidInput
from wallet.hotspot_models import HotspotLogin
from wallet.staff import AuditRecord


@pytest.fixture
def router():
    with HotspotRouter(identity="RW-07") as emulator:
        yield emulator


@pytest.fixture
def ring():
    return keyring()


def audit_of(db, actor, action):
    return db.run(
        lambda s: [
            record.after_data()
            for record in s.execute(
                select(AuditRecord)
                .where(AuditRecord.actor == actor, AuditRecord.action == action)
                .order_by(AuditRecord.id)
            ).scalars()
        ]
    )


def test_a_router_that_answers_is_up_with_its_load_memory_uptime_and_users(db, ring, router):
    router_id = register(db, ring, router)
    router.login_hotspot_user("andi")
    router.login_hotspot_user("budi", address="10.5.50.3")
    report = router_report(db, ring, router_id, timeout=2)
    assert report.up and report.problem is None
    assert report.status.identity == "RW-07"
    assert (report.status.cpu_load, report.status.uptime_seconds) == (3, 788645)
    assert report.status.total_memory == 268435456
    assert report.online_users == 2


def test_a_router_that_is_off_is_down_with_the_reason(db, ring):
    with HotspotRouter() as gone:
        router_id = register(db, ring, gone)
    report = router_report(db, ring, router_id, timeout=1)
    assert not report.up
    assert "unreachable" in report.problem
    assert report.status is None


def test_a_router_without_the_key_is_down_and_says_why(db, ring, router):
    router_id = register(db, ring, router)
    report = router_report(db, None, router_id, timeout=1)
    assert not report.up and "PULSA_ROUTER_KEY" in report.problem


def test_a_ping_from_a_router_is_done_and_audited_under_its_actor(db, ring, router):
    router_id = register(db, ring, router)
    router.ping_times["8.8.8.8"] = "12ms500us"
    actor = f"telegram:{new_name('staff')}"
    result = staff_ping(db, ring, router_id, " 8.8.8.8 ", count=3, actor=actor, timeout=2)
    assert (result.sent, result.received, result.avg_rtt_us) == (3, 3, 12500)
    [command] = [c for c in router.commands if c.command == "/ping"]
    assert command.attributes["interval"] == "200ms"
    [record] = audit_of(db, actor, "router.ping")
    assert record == {
        "address": "8.8.8.8",
        "count": 3,
        "sent": 3,
        "received": 3,
        "avg_rtt_us": 12500,
    }


def test_a_ping_nobody_answers_is_all_lost_not_an_error(db, ring, router):
    router_id = register(db, ring, router)
    actor = f"telegram:{new_name('staff')}"
    result = staff_ping(db, ring, router_id, "10.99.0.1", count=2, actor=actor, timeout=2)
    assert (result.sent, result.received, result.packet_loss) == (2, 0, 100)


def test_a_ping_from_a_router_that_is_off_raises_and_is_audited(db, ring):
    with HotspotRouter() as gone:
        router_id = register(db, ring, gone)
    actor = f"telegram:{new_name('staff')}"
    with pytest.raises(RouterError):
        staff_ping(db, ring, router_id, "8.8.8.8", count=1, actor=actor, timeout=1)
    [record] = audit_of(db, actor, "router.ping")
    assert "unreachable" in record["error"]


@pytest.mark.parametrize("count", [0, MAX_STAFF_PING_COUNT + 1])
def test_a_ping_count_out_of_range_is_refused_before_the_router_is_asked(db, ring, router, count):
    router_id = register(db, ring, router)
    with pytest.raises(InvalidInput):
        staff_ping(db, ring, router_id, "8.8.8.8", count=count, actor="telegram:x", timeout=2)
    assert not [c for c in router.commands if c.command == "/ping"]


@pytest.mark.parametrize(
    ("typed", "target"),
    [("8.8.8.8", "8.8.8.8"), ("2001:DB8::1", "2001:db8::1"), ("Example.COM", "example.com")],
)
def test_ping_targets_are_addresses_or_host_names(typed, target):
    assert check_ping_target(typed) == target


@pytest.mark.parametrize("typed", ["", "a b", "-x.com", "x" * 300, "8.8.8.8; reboot", "é.com"])
def test_anything_else_is_not_a_ping_target(typed):
    with pytest.raises(InvalidInput):
        check_ping_target(typed)


def test_kicking_a_login_ends_its_sessions_now_and_is_audited(db, ring, router):
    register(db, ring, router)
    _account, login_id = make_login(db)
    username = db.run(lambda s: s.get(HotspotLogin, login_id).username)
    router.login_hotspot_user(username)
    router.login_hotspot_user("someone-else", address="10.5.50.9")
    actor = f"telegram:{new_name('staff')}"
    outcome = staff_kick_login(db, ring, login_id, actor=actor, timeout=1)
    assert outcome.total == 1
    assert [row["user"] for row in router.rows(ACTIVE)] == ["someone-else"]
    [record] = audit_of(db, actor, "hotspot_login.kick")
    assert sum(record["kicked"].values()) == 1


def test_every_router_is_read_at_the_same_time(empty_db):
    db, ring = empty_db, keyring()
    # Each driver waits at the barrier until the other router is being read too: read
    # one after the other, the first would wait in vain and the barrier break.
    together = threading.Barrier(2, timeout=5)

    class Waiting(RouterDriver):
        def status(self):
            together.wait()
            return super().status()

    def factory(access, timeout):
        return Waiting(access.host, access.username, access.password, port=access.port)

    with HotspotRouter(identity="one") as one, HotspotRouter(identity="two") as two:
        register(db, ring, one)
        register(db, ring, two)
        reports = routers_report(db, ring, timeout=3, driver_factory=factory)
    assert sorted(r.status.identity for r in reports) == ["one", "two"]
