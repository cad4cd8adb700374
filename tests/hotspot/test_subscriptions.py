"""Packages, logins and subscriptions on SQLite, PostgreSQL and MariaDB: what a purchase
costs, that it is charged once, and how extensions, renewals and expiry move it."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from tests.conftest import unique_key
from tests.hotspot.builders import RUPIAH, balance_of, make_login, make_package, new_name
from wallet import ledger
from wallet.audit import audit
from wallet.errors import IdempotencyConflict, InsufficientFunds, InvalidInput, NotFound
from wallet.hotspot_models import HotspotLogin, Subscription
from wallet.internet import (
    UsernameTaken,
    add_months,
    buy_package,
    check_rate_limit,
    confirm_registration,
    create_login,
    create_package,
    current_subscription,
    extend_subscription,
    extensions_of,
    find_login,
    process_due,
    rate_limit_text,
    register_for_hotspot,
    start_subscription,
)
from wallet.models import Customer, LedgerEntry

NOON = datetime(2026, 3, 10, 12, 0, 0)
PRICE = 5_000 * RUPIAH


def entries_of(db, account_id: int, kind: str = "package") -> list[LedgerEntry]:
    return db.run(
        lambda s: list(
            s.execute(
                select(LedgerEntry).where(
                    LedgerEntry.account_id == account_id, LedgerEntry.kind == kind
                )
            ).scalars()
        )
    )


def subscriptions_of(db, login_id: int) -> list[Subscription]:
    return db.run(
        lambda s: list(
            s.execute(
                select(Subscription)
                .where(Subscription.login_id == login_id)
                .order_by(Subscription.starts_at)
            ).scalars()
        )
    )


def bought_and_started(db, login: int, package: int, now: datetime = NOON, **options):
    """A purchase whose validity starts at once, as when a router takes it at `now`."""

    def work(s):
        sub = buy_package(s, login, package, key=unique_key("buy"), now=now, **options)
        return start_subscription(s, sub.id, now) or sub

    return db.run(work)


# -- buying ---------------------------------------------------------------------------------


def test_buying_a_package_debits_its_price_and_records_a_subscription_of_its_validity(db):
    package = make_package(db, PRICE, validity_value=7, validity_unit="days", limit_uptime=3600)
    account, login = make_login(db, 20_000 * RUPIAH)

    sub = db.run(lambda s: buy_package(s, login, package, key=unique_key("buy"), now=NOON))

    assert balance_of(db, account) == 15_000 * RUPIAH
    assert (sub.starts_at, sub.ends_at) == (NOON, NOON + timedelta(days=7))
    assert sub.price == PRICE and sub.limit_uptime == 3600
    [entry] = entries_of(db, account)
    assert entry.amount == -PRICE and entry.id == sub.ledger_entry_id


def test_replaying_a_purchase_key_returns_the_first_subscription_and_charges_once(db):
    package = make_package(db, PRICE)
    account, login = make_login(db, 20_000 * RUPIAH)
    key = unique_key("buy")

    first = db.run(lambda s: buy_package(s, login, package, key=key, now=NOON))
    again = db.run(lambda s: buy_package(s, login, package, key=key, now=NOON))

    assert again.id == first.id
    assert balance_of(db, account) == 15_000 * RUPIAH
    assert len(subscriptions_of(db, login)) == 1


def test_a_purchase_key_used_for_another_package_is_a_conflict_not_a_second_purchase(db):
    account, login = make_login(db, 20_000 * RUPIAH)
    key = unique_key("buy")
    db.run(lambda s: buy_package(s, login, make_package(db, PRICE), key=key))
    other = make_package(db, PRICE)
    with pytest.raises(IdempotencyConflict):
        db.run(lambda s: buy_package(s, login, other, key=key))
    assert balance_of(db, account) == 15_000 * RUPIAH


def test_a_wallet_without_enough_credit_buys_nothing_and_keeps_its_balance(db):
    package = make_package(db, PRICE)
    account, login = make_login(db, 4_999 * RUPIAH)
    with pytest.raises(InsufficientFunds):
        db.run(lambda s: buy_package(s, login, package, key=unique_key("buy")))
    assert balance_of(db, account) == 4_999 * RUPIAH
    assert subscriptions_of(db, login) == []


def test_two_purchases_at_once_on_a_wallet_with_credit_for_one_let_exactly_one_through(db):
    package = make_package(db, PRICE)
    account, login = make_login(db, PRICE + 1)
    start = threading.Barrier(2)
    outcomes: list[str] = []

    def buyer() -> None:
        start.wait()
        try:
            db.run(lambda s: buy_package(s, login, package, key=unique_key("race")))
            outcomes.append("bought")
        except InsufficientFunds:
            outcomes.append("refused")

    threads = [threading.Thread(target=buyer) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert sorted(outcomes) == ["bought", "refused"]
    assert balance_of(db, account) == 1
    assert len(subscriptions_of(db, login)) == 1
    assert db.run(audit).clean


def test_a_purchase_while_a_subscription_runs_starts_when_that_one_ends(db):
    package = make_package(db, PRICE, validity_value=3, validity_unit="days")
    _, login = make_login(db, 20_000 * RUPIAH)
    first = bought_and_started(db, login, package)
    later = NOON + timedelta(days=1)
    second = db.run(lambda s: buy_package(s, login, package, key=unique_key("b"), now=later))
    assert second.starts_at == first.ends_at == NOON + timedelta(days=3)
    assert db.run(lambda s: current_subscription(s, login, later).id) == first.id
    day_four = NOON + timedelta(days=4)
    assert db.run(lambda s: current_subscription(s, login, day_four).id) == second.id


def test_a_free_package_needs_no_credit_and_writes_no_ledger_entry(db):
    package = make_package(db, 0, validity_value=30, validity_unit="minutes")
    account, login = make_login(db, 0)
    sub = db.run(lambda s: buy_package(s, login, package, key=unique_key("trial"), now=NOON))
    assert sub.ends_at == NOON + timedelta(minutes=30) and sub.ledger_entry_id is None
    assert entries_of(db, account) == []


def test_a_month_of_validity_from_the_31st_ends_on_the_last_day_of_a_short_month():
    assert add_months(datetime(2026, 1, 31, 8, 0), 1) == datetime(2026, 2, 28, 8, 0)
    assert add_months(datetime(2026, 11, 15), 3) == datetime(2027, 2, 15)


# -- extensions -----------------------------------------------------------------------------


def test_a_free_extension_needs_a_reason_and_is_kept_in_the_history_with_its_author(db):
    package = make_package(db, PRICE, validity_value=2, validity_unit="days")
    account, login = make_login(db, 10_000 * RUPIAH)
    sub = db.run(lambda s: buy_package(s, login, package, key=unique_key("b"), now=NOON))

    with pytest.raises(InvalidInput, match="reason"):
        db.run(lambda s: extend_subscription(s, sub.id, 3, key=unique_key("x"), actor="ana"))
    db.run(
        lambda s: extend_subscription(
            s, sub.id, 3, key=unique_key("x"), actor="ana", reason="reward", now=NOON
        )
    )

    [extension] = db.run(lambda s: extensions_of(s, sub.id))
    assert (extension.days, extension.price, extension.actor) == (3, 0, "ana")
    assert extension.old_ends_at == NOON + timedelta(days=2)
    assert extension.new_ends_at == NOON + timedelta(days=5)
    assert subscriptions_of(db, login)[0].ends_at == NOON + timedelta(days=5)
    assert balance_of(db, account) == 5_000 * RUPIAH


def test_a_paid_extension_debits_the_wallet_once_and_moves_queued_purchases_along(db):
    package = make_package(db, PRICE, validity_value=2, validity_unit="days")
    account, login = make_login(db, 20_000 * RUPIAH)
    first = db.run(lambda s: buy_package(s, login, package, key=unique_key("a"), now=NOON))
    queued = db.run(lambda s: buy_package(s, login, package, key=unique_key("b"), now=NOON))
    key = unique_key("ext")

    for _ in range(2):
        db.run(
            lambda s: extend_subscription(
                s, first.id, 1, key=key, actor="bob", price=1_000 * RUPIAH, now=NOON
            )
        )

    assert balance_of(db, account) == 9_000 * RUPIAH
    moved = {sub.id: sub for sub in subscriptions_of(db, login)}
    assert moved[first.id].ends_at == NOON + timedelta(days=3)
    assert moved[queued.id].starts_at == NOON + timedelta(days=3)
    assert moved[queued.id].ends_at == NOON + timedelta(days=5)


def test_extending_an_expired_subscription_runs_it_again_from_now(db):
    package = make_package(db, PRICE, validity_value=1, validity_unit="days")
    _, login = make_login(db, 10_000 * RUPIAH)
    sub = bought_and_started(db, login, package)
    later = NOON + timedelta(days=3)
    db.run(lambda s: process_due(s, later))
    db.run(
        lambda s: extend_subscription(
            s, sub.id, 2, key=unique_key("x"), actor="ana", reason="apology", now=later
        )
    )
    [again] = subscriptions_of(db, login)
    assert again.status == "active" and again.ends_at == later + timedelta(days=2)
    assert db.run(lambda s: current_subscription(s, login, later).id) == sub.id


# -- expiry and renewal ---------------------------------------------------------------------


def test_expiry_marks_subscriptions_whose_time_is_up_and_leaves_running_ones(db):
    package = make_package(db, PRICE, validity_value=1, validity_unit="hours")
    _, login = make_login(db, 10_000 * RUPIAH)
    sub = bought_and_started(db, login, package)

    early = db.run(lambda s: process_due(s, NOON + timedelta(minutes=59)))
    late = db.run(lambda s: process_due(s, NOON + timedelta(hours=1)))

    assert sub.id not in early.expired and sub.id in late.expired
    [expired] = subscriptions_of(db, login)
    assert expired.status == "expired" and expired.expired_at == NOON + timedelta(hours=1)


def test_auto_renew_buys_the_next_period_from_the_balance_once_however_often_it_runs(db):
    package = make_package(db, PRICE, validity_value=1, validity_unit="days")
    account, login = make_login(db, 12_000 * RUPIAH)
    first = bought_and_started(db, login, package, auto_renew=True)
    due = NOON + timedelta(days=1, seconds=5)

    report = db.run(lambda s: process_due(s, due))
    db.run(lambda s: process_due(s, due))

    [renewal_id] = report.renewed
    old, new = subscriptions_of(db, login)
    assert (old.id, old.status) == (first.id, "expired")
    assert new.id == renewal_id and new.renewed_from_id == first.id
    assert (new.starts_at, new.ends_at) == (first.ends_at, first.ends_at + timedelta(days=1))
    assert balance_of(db, account) == 2_000 * RUPIAH


def test_auto_renew_without_enough_credit_lets_the_subscription_expire(db):
    package = make_package(db, PRICE, validity_value=1, validity_unit="days")
    account, login = make_login(db, PRICE)
    sub = bought_and_started(db, login, package, auto_renew=True)
    report = db.run(lambda s: process_due(s, NOON + timedelta(days=2)))
    assert report.renewed == [] and sub.id in report.renewal_failures
    assert [x.status for x in subscriptions_of(db, login)] == ["expired"]
    assert balance_of(db, account) == 0
    assert db.run(audit).clean


# -- waiting for the start ------------------------------------------------------------------


def test_a_package_bought_with_nothing_running_waits_and_never_expires_before_it_starts(db):
    package = make_package(db, PRICE, validity_value=1, validity_unit="days")
    account, login = make_login(db, 10_000 * RUPIAH)
    sub = db.run(
        lambda s: buy_package(s, login, package, key=unique_key("a"), auto_renew=True, now=NOON)
    )
    assert sub.awaits_start

    a_week_later = NOON + timedelta(days=7)
    report = db.run(lambda s: process_due(s, a_week_later))
    assert sub.id not in report.expired and report.renewed == []
    started = db.run(lambda s: start_subscription(s, sub.id, a_week_later))

    assert (started.starts_at, started.ends_at) == (a_week_later, a_week_later + timedelta(days=1))
    assert not started.awaits_start
    again = a_week_later + timedelta(hours=1)
    assert db.run(lambda s: start_subscription(s, sub.id, again)) is None
    assert balance_of(db, account) == 5_000 * RUPIAH  # charged once, nothing given back
    assert db.run(lambda s: process_due(s, a_week_later + timedelta(hours=23))).expired == []


def test_purchases_queued_behind_a_waiting_one_move_with_it_and_its_extension_is_kept(db):
    package = make_package(db, PRICE, validity_value=2, validity_unit="days")
    _, login = make_login(db, 20_000 * RUPIAH)
    first = db.run(lambda s: buy_package(s, login, package, key=unique_key("a"), now=NOON))
    queued = db.run(lambda s: buy_package(s, login, package, key=unique_key("b"), now=NOON))
    assert queued.awaits_start and queued.starts_at == first.ends_at
    five_days_later = NOON + timedelta(days=5)
    db.run(
        lambda s: extend_subscription(
            s, first.id, 1, key=unique_key("x"), actor="ana", reason="sorry", now=five_days_later
        )
    )

    db.run(lambda s: start_subscription(s, first.id, five_days_later))

    moved = {sub.id: sub for sub in subscriptions_of(db, login)}
    assert moved[first.id].starts_at == five_days_later
    assert moved[first.id].ends_at == five_days_later + timedelta(days=3)
    assert moved[queued.id].starts_at == five_days_later + timedelta(days=3)
    assert moved[queued.id].ends_at == five_days_later + timedelta(days=5)
    assert not moved[queued.id].awaits_start


# -- usernames ------------------------------------------------------------------------------


def test_a_taken_username_is_refused_with_a_free_suggestion_whatever_its_case(db):
    name = new_name("Budi")
    make_login(db, username=name)
    with pytest.raises(UsernameTaken) as caught:
        make_login(db, username=name.upper())
    assert caught.value.suggestion == f"{name.upper()}2"
    assert "taken" in str(caught.value)
    make_login(db, username=caught.value.suggestion)


def test_non_ascii_usernames_are_kept_as_typed_and_found_in_any_case(db):
    name = "Đặng" + new_name("é")
    _, login_id = make_login(db, username=name)
    found = db.run(lambda s: find_login(s, name.upper()))
    assert found.id == login_id and found.username == name


def test_usernames_with_spaces_or_quotes_are_refused(db):
    for bad in ("two words", 'qu"ote', "dollar$"):
        with pytest.raises(InvalidInput):
            make_login(db, username=bad)


# -- packages -------------------------------------------------------------------------------


def test_a_rate_limit_with_burst_is_written_the_way_routeros_reads_it():
    text = rate_limit_text(
        "512k",
        "2M",
        burst_upload="1M",
        burst_download="4M",
        threshold_upload="384k",
        threshold_download="1500k",
        burst_time=8,
    )
    assert text == "512k/2M 1M/4M 384k/1500k 8/8"
    with pytest.raises(InvalidInput):
        check_rate_limit("fast please")


def test_the_routeros_default_profile_cannot_become_a_package(db):
    with pytest.raises(InvalidInput, match="default"):
        db.run(
            lambda s: create_package(
                s,
                new_name("p"),
                price=1,
                validity_value=1,
                validity_unit="days",
                profile_name="Default",
            )
        )


# -- self-registration ----------------------------------------------------------------------


def test_a_registration_waits_pending_until_the_admin_confirms_the_payment(db):
    package = make_package(db, PRICE, validity_value=30, validity_unit="days")
    username = new_name("siti")
    login = db.run(
        lambda s: register_for_hotspot(
            s, name="Siti Nurhaliza", username=username, package=package, currency="IDR"
        )
    )
    assert login.status == "pending"
    with pytest.raises(InvalidInput):
        db.run(lambda s: buy_package(s, login.id, package, key=unique_key("b")))

    for _ in range(2):
        sub = db.run(
            lambda s: confirm_registration(
                s, login.id, amount=PRICE, method="bank_transfer", actor="admin"
            )
        )

    def state(s):
        row = s.get(HotspotLogin, login.id)
        customer = s.get(Customer, row.customer_id)
        count = s.execute(
            select(func.count()).select_from(Subscription).where(Subscription.login_id == login.id)
        ).scalar_one()
        return row.status, customer.status, count

    assert state_of(db, state) == ("active", "active", 1)
    assert sub.package_id == package and sub.price == PRICE
    assert db.run(lambda s: ledger.lock_account(s, sub.account_id).balance) == 0


def test_a_registration_whose_payment_is_short_confirms_nothing(db):
    package = make_package(db, PRICE)
    login = db.run(
        lambda s: register_for_hotspot(
            s, name="Short", username=new_name("short"), package=package, currency="IDR"
        )
    )
    with pytest.raises(InsufficientFunds):
        db.run(lambda s: confirm_registration(s, login.id, amount=PRICE - 1, actor="admin"))
    assert db.run(lambda s: s.get(HotspotLogin, login.id).status) == "pending"


def state_of(db, work):
    return db.run(work)


def test_a_login_for_a_missing_customer_is_refused(db):
    with pytest.raises(NotFound):
        db.run(lambda s: create_login(s, 10**9, new_name("ghost")))
