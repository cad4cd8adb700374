"""The reconciler against the RouterOS emulator, through the real librouteros client,
on every database backend: the router ends up as the database says, money never waits
for a router, and drift is reported."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select, update

from hotspot.reconciler import HotspotScheduler, make_comment, parse_comment, sync_all
from hotspot.routers import access_for, default_driver, get_router, read_live_view
from tests.conftest import unique_key
from tests.hotspot.builders import RUPIAH, balance_of, make_login, make_package, new_name
from tests.hotspot.router import ACTIVE, PROFILES, USERS, HotspotRouter, keyring, register
from wallet.hotspot_models import Router, Subscription
from wallet.internet import (
    buy_package,
    confirm_registration,
    register_for_hotspot,
    set_login_status,
)
from wallet.ledger import utcnow
from wallet.models import LedgerEntry

NOW = datetime(2026, 5, 1, 8, 0, 0)
PRICE = 3_000 * RUPIAH


@pytest.fixture
def router():
    with HotspotRouter(identity="RW-07") as emulator:
        yield emulator


@pytest.fixture
def ring():
    return keyring()


def setup_router(db, ring, router, **package_options):
    router_id = register(db, ring, router)
    package_options.setdefault("rate_limit", "512k/2M")
    package = make_package(db, PRICE, router_ids=[router_id], **package_options)
    return router_id, package


def sync(db, ring, router_id, now=NOW, **options):
    report = sync_all(db, ring, router_ids=[router_id], now=now, timeout=2.0, **options)
    [one] = report.routers
    return one


def buy(db, login, package, now=NOW, **options):
    return db.run(
        lambda s: buy_package(s, login, package, key=unique_key("buy"), now=now, **options)
    )


def writes(router: HotspotRouter) -> list[str]:
    return [c.command for c in router.commands if not c.command.endswith(("/print", "/login"))]


def test_a_purchase_while_the_router_is_down_is_charged_once_and_provisioned_on_the_next_sync(
    db, ring, router
):
    router_id, package = setup_router(db, ring, router)
    account, login = make_login(db, 10_000 * RUPIAH, username=new_name("andi"))
    router.refuse_logins = True

    sub = buy(db, login, package)
    down = sync(db, ring, router_id)

    assert not down.ok and "unreachable" in down.error
    assert balance_of(db, account) == 7_000 * RUPIAH
    assert db.run(lambda s: s.get(Subscription, sub.id).provisioned_at) is None
    assert db.run(lambda s: s.get(Router, router_id).last_sync_ok) is False
    assert router.rows(USERS) == []

    router.refuse_logins = False
    up = sync(db, ring, router_id, now=NOW + timedelta(minutes=1))

    assert up.ok and up.added == [db.run(lambda s: s.get(Subscription, sub.id).login.username)]
    [user] = router.rows(USERS)
    assert user["disabled"] == "false" and user["profile"] == db.run(
        lambda s: s.get(Subscription, sub.id).package.profile_name
    )
    assert db.run(lambda s: s.get(Subscription, sub.id).provisioned_at) is not None
    charges = db.run(
        lambda s: s.execute(
            select(func.count()).where(
                LedgerEntry.account_id == account, LedgerEntry.kind == "package"
            )
        ).scalar_one()
    )
    assert charges == 1 and balance_of(db, account) == 7_000 * RUPIAH


def test_a_sync_puts_the_package_profile_and_limits_on_the_router(db, ring, router):
    router_id, package = setup_router(
        db, ring, router, limit_uptime=7200, limit_bytes_total=5 * 1024**3, shared_users=2
    )
    _, login = make_login(db, 10_000 * RUPIAH, username=new_name("rina"))
    sub = buy(db, login, package)
    sync(db, ring, router_id)

    [profile] = [p for p in router.rows(PROFILES) if p["name"] != "default"]
    assert (profile["rate-limit"], profile["shared-users"]) == ("512k/2M", "2")
    [user] = router.rows(USERS)
    assert user["limit-uptime"] == "2h" and user["limit-bytes-total"] == str(5 * 1024**3)
    assert parse_comment(user["comment"]).subscription_id == sub.id


def test_users_may_log_in_only_through_the_router_s_hotspot_server_when_one_is_named(
    db, ring, router
):
    router_id = register(db, ring, router, hotspot_server="hs-lobby")
    package = make_package(db, PRICE, router_ids=[router_id])
    _, login = make_login(db, 10_000 * RUPIAH, username=new_name("dewi"))
    buy(db, login, package)
    sync(db, ring, router_id)
    name = router.rows(USERS)[0]["name"]
    assert router.user(name)["server"] == "hs-lobby"

    db.run(lambda s: setattr(s.get(Router, router_id), "hotspot_server", "all"))
    report = sync(db, ring, router_id)
    assert report.updated == [name] and router.user(name)["server"] == "all"
    assert sync(db, ring, router_id).updated == []


def test_a_second_sync_with_nothing_to_change_sends_no_write(db, ring, router):
    router_id, package = setup_router(db, ring, router)
    for _ in range(3):
        _, login = make_login(db, 10_000 * RUPIAH)
        buy(db, login, package)
    sync(db, ring, router_id)
    router.commands.clear()

    again = sync(db, ring, router_id)

    assert again.ok and again.unchanged == 3 and again.added == again.updated == []
    assert writes(router) == []


def test_expiry_disables_the_user_and_kicks_its_session(db, ring, router):
    router_id, package = setup_router(db, ring, router, validity_value=1, validity_unit="hours")
    _, login = make_login(db, 10_000 * RUPIAH, username=new_name("budi"))
    sub = buy(db, login, package)
    sync(db, ring, router_id)
    name = router.rows(USERS)[0]["name"]
    router.login_hotspot_user(name)
    router.login_hotspot_user("someone-else")

    report = sync(db, ring, router_id, now=NOW + timedelta(hours=1, seconds=1))

    assert report.kicked == [name]
    assert router.user(name)["disabled"] == "true"
    assert [row["user"] for row in router.rows(ACTIVE)] == ["someone-else"]
    assert db.run(lambda s: s.get(Subscription, sub.id).status) == "expired"


def test_a_sync_records_how_many_hotspot_users_are_online_after_the_kicks(db, ring, router):
    router_id, package = setup_router(db, ring, router, validity_value=1, validity_unit="hours")
    _, login = make_login(db, 10_000 * RUPIAH, username=new_name("wati"))
    buy(db, login, package)
    sync(db, ring, router_id)
    name = router.rows(USERS)[0]["name"]
    for user in (name, "tamu-1", "tamu-2"):
        router.login_hotspot_user(user)

    sync(db, ring, router_id, now=NOW + timedelta(minutes=5))
    assert db.run(lambda s: s.get(Router, router_id).online_users) == 3
    sync(db, ring, router_id, now=NOW + timedelta(hours=1, seconds=1))  # wati's hour is up
    assert db.run(lambda s: s.get(Router, router_id).online_users) == 2


def test_a_login_disabled_by_the_admin_is_kicked_at_the_next_sync(db, ring, router):
    router_id, package = setup_router(db, ring, router)
    _, login = make_login(db, 10_000 * RUPIAH)
    buy(db, login, package)
    sync(db, ring, router_id)
    name = router.rows(USERS)[0]["name"]
    router.login_hotspot_user(name)

    db.run(lambda s: set_login_status(s, login, "disabled"))
    report = sync(db, ring, router_id)

    assert report.kicked == [name] and router.rows(ACTIVE) == []


def test_a_sync_after_the_router_lost_its_users_recreates_them(db, ring, router):
    router_id, package = setup_router(db, ring, router)
    for _ in range(2):
        _, login = make_login(db, 10_000 * RUPIAH)
        buy(db, login, package)
    sync(db, ring, router_id)
    before = sorted((u["name"], u["password"], u["comment"]) for u in router.rows(USERS))
    with router.lock:
        router.menus[USERS].rows.clear()  # a reset router, or an admin in Winbox

    report = sync(db, ring, router_id)

    assert sorted(report.missing) == sorted(name for name, _, _ in before)
    assert sorted(report.added) == sorted(report.missing)
    assert sorted((u["name"], u["password"], u["comment"]) for u in router.rows(USERS)) == before


def test_drift_reports_unknown_managed_users_and_leaves_the_operators_own_alone(db, ring, router):
    router_id, package = setup_router(db, ring, router)
    _, login = make_login(db, 10_000 * RUPIAH)
    buy(db, login, package)
    router.insert(USERS, name="warung-owner", password="x", comment="made in Winbox")
    router.insert(USERS, name="ghost", password="y", comment=make_comment(10**9, 7, "gone"))

    report = sync(db, ring, router_id)

    assert report.unmanaged == ["warung-owner"]
    assert report.unknown_managed == ["ghost"] and report.removed == []
    assert {u["name"] for u in router.rows(USERS)} >= {"warung-owner", "ghost"}

    pruned = sync(db, ring, router_id, prune=True)

    assert pruned.removed == ["ghost"]
    names = {u["name"] for u in router.rows(USERS)}
    assert "ghost" not in names and "warung-owner" in names


def test_a_user_the_router_changed_by_hand_is_put_back(db, ring, router):
    router_id, package = setup_router(db, ring, router)
    _, login = make_login(db, 10_000 * RUPIAH, password="kopi123")
    buy(db, login, package)
    sync(db, ring, router_id)
    name = router.rows(USERS)[0]["name"]
    router.set_user(name, password="changed", disabled="true")

    report = sync(db, ring, router_id)

    assert report.updated == [name]
    assert (router.user(name)["password"], router.user(name)["disabled"]) == ("kopi123", "false")


def test_non_ascii_names_and_comments_survive_the_round_trip_and_compare_equal(db, ring, router):
    router_id, package = setup_router(db, ring, router, name="Paket Harian ☕ " + new_name("p"))
    username = "đặng.siti" + new_name("")
    _, login = make_login(db, 10_000 * RUPIAH, username=username, name="Siti Đặng 🌙")
    buy(db, login, package)

    first = sync(db, ring, router_id)
    second = sync(db, ring, router_id)

    [user] = router.rows(USERS)
    assert user["name"] == username
    assert user["profile"].startswith("Paket Harian ☕")
    assert user["comment"].endswith("| Siti Đặng 🌙")
    assert first.added == [username] and second.unchanged == 1 and second.updated == []


def test_a_digit_only_username_read_back_from_the_router_stays_a_string(db, ring, router):
    router_id, package = setup_router(db, ring, router)
    digits = str(10**11 + int(new_name("").lstrip("-") or "0") % 10**9)
    for name in ("0812" + digits[-6:], digits):
        _, login = make_login(db, 10_000 * RUPIAH, username=name, password="123456")
        buy(db, login, package)

    sync(db, ring, router_id)
    second = sync(db, ring, router_id)

    with ring_driver(db, ring, router_id) as driver:
        users = driver.list_users()
    assert sorted(u.name for u in users) == sorted(["0812" + digits[-6:], digits])
    assert all(type(u.name) is str and type(u.password) is str for u in users)
    assert second.unchanged == 2 and second.updated == []


def test_a_new_subscription_starts_with_fresh_counters_on_the_router(db, ring, router):
    router_id, package = setup_router(
        db, ring, router, validity_value=1, validity_unit="days", limit_uptime=3600
    )
    _, login = make_login(db, 10_000 * RUPIAH)
    buy(db, login, package)
    sync(db, ring, router_id)
    name = router.rows(USERS)[0]["name"]
    router.set_user(name, uptime="50m", **{"bytes-in": "1000"})
    sync(db, ring, router_id, now=NOW + timedelta(days=1, minutes=1))  # expired, disabled

    later = NOW + timedelta(days=2)
    second = buy(db, login, package, now=later)
    report = sync(db, ring, router_id, now=later)

    assert report.counters_reset == [name]
    user = router.user(name)
    assert (user["uptime"], user["bytes-in"], user["disabled"]) == ("0s", "0", "false")
    assert parse_comment(user["comment"]).subscription_id == second.id


def test_a_customer_with_queued_purchases_is_not_reset_until_the_next_one_starts(db, ring, router):
    router_id, package = setup_router(db, ring, router)
    _, login = make_login(db, 10_000 * RUPIAH)
    first = buy(db, login, package)
    buy(db, login, package)
    sync(db, ring, router_id)
    user = router.rows(USERS)[0]
    assert parse_comment(user["comment"]).subscription_id == first.id


def test_the_scheduler_reuses_one_connection_across_passes(db, ring, router):
    router_id, package = setup_router(db, ring, router)
    _, login = make_login(db, 10_000 * RUPIAH)
    buy(db, login, package)
    # Routers of earlier tests are gone; a pass over all routers would wait on each.
    db.run(lambda s: s.execute(update(Router).where(Router.id != router_id).values(enabled=False)))
    scheduler = HotspotScheduler(db, ring, interval=60, timeout=2.0)
    try:
        for _ in range(3):
            report = scheduler.run_once(now=NOW)
            assert [(r.router_id, r.ok) for r in report.routers] == [(router_id, True)]
    finally:
        scheduler.close()
    assert router.login_count == 1


def test_a_router_that_drops_the_connection_mid_sync_is_finished_on_the_next_pass(db, ring, router):
    router_id, package = setup_router(db, ring, router)
    for _ in range(4):
        _, login = make_login(db, 10_000 * RUPIAH)
        buy(db, login, package)
    router.drop_next(2)  # the driver reconnects once; the second drop ends the pass

    broken = sync(db, ring, router_id)
    healed = sync(db, ring, router_id)

    assert not broken.ok and "dropped" in broken.error
    assert healed.ok and len(router.rows(USERS)) == 4
    assert db.run(lambda s: s.get(Router, router_id).last_error) is None


def test_the_router_page_reads_status_interfaces_and_active_users(db, ring, router):
    router_id, _ = setup_router(db, ring, router)
    router.login_hotspot_user("tamu")
    with ring_driver(db, ring, router_id) as driver:
        view = read_live_view(driver)
    assert view.status.identity == "RW-07"
    assert (view.interfaces[0].name, view.interfaces[0].rx_bytes) == ("ether1", 8123456)
    assert [s.user for s in view.active] == ["tamu"]


def test_the_router_password_is_stored_encrypted_and_opens_with_the_key(db, ring, router):
    router_id, _ = setup_router(db, ring, router)
    stored = db.run(lambda s: s.get(Router, router_id).password_encrypted)
    assert "router secret" not in stored
    with pytest.raises(Exception, match="cannot be decrypted"):
        db.run(lambda s: access_for(get_router(s, router_id), keyring()))


class ring_driver:
    def __init__(self, db, ring, router_id):
        access = db.run(lambda s: access_for(get_router(s, router_id), ring))
        self.driver = default_driver(access, 2.0)

    def __enter__(self):
        return self.driver

    def __exit__(self, *exc):
        self.driver.close()


def test_a_self_registration_is_a_disabled_user_until_the_admin_confirms_the_payment(
    db, ring, router
):
    router_id, package = setup_router(db, ring, router)
    username = new_name("dewi")
    login = db.run(
        lambda s: register_for_hotspot(
            s, name="Dewi Lestari", username=username, package=package, currency="IDR"
        )
    )
    sync(db, ring, router_id)
    assert router.user(username)["disabled"] == "true"

    db.run(lambda s: confirm_registration(s, login.id, amount=PRICE, actor="admin"))
    sync(db, ring, router_id, now=utcnow())

    assert router.user(username)["disabled"] == "false"
