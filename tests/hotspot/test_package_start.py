"""A package's validity starts when a router first holds it (or at the first login, as
the operator chooses), on every database backend, through the real librouteros client
against the RouterOS emulator: until then it waits, with its reason, and nothing expires
or is charged again."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import delete

from hotspot.reconciler import sync_all
from hotspot.waiting import Waiting, why_waiting
from pulsa.settings import Settings
from tests.conftest import unique_key
from tests.hotspot.builders import RUPIAH, balance_of, make_login, make_package, new_name
from tests.hotspot.router import USERS, HotspotRouter, keyring, register
from wallet.audit import audit
from wallet.hotspot_models import InternetPackage, Router, Subscription
from wallet.internet import buy_package, process_due
from wallet.site_settings import SiteSetting, save_site_config

NOW = datetime(2026, 6, 1, 8, 0, 0)
PRICE = 3_000 * RUPIAH


@pytest.fixture
def router():
    with HotspotRouter(identity="RW-09") as emulator:
        yield emulator


@pytest.fixture
def ring():
    return keyring()


@pytest.fixture
def first_login_mode(db):
    db.run(
        lambda s: save_site_config(s, Settings(), {"internet_start": "first_login"}, actor="test")
    )
    yield
    db.run(lambda s: s.execute(delete(SiteSetting).where(SiteSetting.key == "internet_start")))


def reason(db, subscription_id: int, now: datetime, *, sync_on: bool = True) -> Waiting | None:
    def work(session):
        subscription = session.get(Subscription, subscription_id)
        found = why_waiting(session, [subscription], sync_on=sync_on, sync_seconds=60, now=now)
        return found.get(subscription_id)

    return db.run(work)


def sync(db, ring, router_id: int, now: datetime):
    [report] = sync_all(db, ring, router_ids=[router_id], now=now, timeout=2.0).routers
    return report


def subscription(db, subscription_id: int) -> Subscription:
    return db.run(lambda s: s.get(Subscription, subscription_id))


def put_on_router(db, package_id: int, router_id: int) -> None:
    def work(session):
        package = session.get(InternetPackage, package_id)
        package.routers = [session.get(Router, router_id)]

    db.run(work)


def test_a_package_bought_with_no_router_waits_with_its_reason_and_starts_when_the_router_takes_it(
    db, ring, router
):
    package = make_package(db, PRICE, validity_value=1, validity_unit="days")
    account, login = make_login(db, 10_000 * RUPIAH, username=new_name("budi"))
    sub = db.run(
        lambda s: buy_package(s, login, package, key=unique_key("buy"), auto_renew=True, now=NOW)
    )

    assert reason(db, sub.id, NOW) == Waiting("no_router")
    assert reason(db, sub.id, NOW, sync_on=False) == Waiting("no_router")

    router_id = register(db, ring, router)
    put_on_router(db, package, router_id)
    assert reason(db, sub.id, NOW, sync_on=False) == Waiting("sync_off")
    router.refuse_logins = True
    down_at = NOW + timedelta(hours=1)
    assert not sync(db, ring, router_id, down_at).ok
    router_name = db.run(lambda s: s.get(Router, router_id).name)
    assert reason(db, sub.id, down_at + timedelta(minutes=5)) == Waiting(
        "unreachable", router=router_name, since=down_at
    )
    # Two days after the purchase: a package counted from its sale would have expired.
    router.refuse_logins = False
    taken_at = NOW + timedelta(days=2)
    assert process_due_expires(db, taken_at) == []

    report = sync(db, ring, router_id, taken_at)

    assert report.ok and report.started == [router.rows(USERS)[0]["name"]]
    started = subscription(db, sub.id)
    assert (started.starts_at, started.ends_at) == (taken_at, taken_at + timedelta(days=1))
    assert not started.awaits_start and started.on_router_at == taken_at
    assert router.rows(USERS)[0]["disabled"] == "false"
    assert reason(db, sub.id, taken_at) is None
    assert balance_of(db, account) == 7_000 * RUPIAH
    # Expiry counts from the start: not a second before its day is over.
    assert process_due_expires(db, taken_at + timedelta(hours=23, minutes=59)) == []
    assert sub.id in process_due_expires(db, taken_at + timedelta(days=1))
    assert db.run(audit).clean


def process_due_expires(db, now: datetime) -> list[int]:
    return db.run(lambda s: process_due(s, now)).expired


def test_in_first_login_mode_the_package_waits_on_the_router_until_its_first_login(
    db, ring, router, first_login_mode
):
    router_id = register(db, ring, router)
    package = make_package(
        db, PRICE, validity_value=3, validity_unit="hours", router_ids=[router_id]
    )
    _, login = make_login(db, 10_000 * RUPIAH, username=new_name("citra"))
    sub = db.run(lambda s: buy_package(s, login, package, key=unique_key("buy"), now=NOW))
    assert reason(db, sub.id, NOW) == Waiting("next_sync")

    on_router = NOW + timedelta(minutes=1)
    report = sync(db, ring, router_id, on_router)
    name = router.rows(USERS)[0]["name"]

    assert report.ok and report.started == []
    assert router.user(name)["disabled"] == "false"  # it can log in: that starts it
    assert reason(db, sub.id, on_router) == Waiting("first_login", since=on_router)
    assert process_due_expires(db, NOW + timedelta(hours=5)) == []

    router.login_hotspot_user(name)
    router.set_active(name, uptime="10m")
    seen = NOW + timedelta(hours=6)
    report = sync(db, ring, router_id, seen)

    assert report.started == [name]
    started = subscription(db, sub.id)
    logged_in = seen - timedelta(minutes=10)
    assert (started.starts_at, started.ends_at) == (logged_in, logged_in + timedelta(hours=3))
    assert reason(db, sub.id, seen) is None
