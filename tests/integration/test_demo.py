"""The demo data: into an empty database only, never over the operator's data, and
removed whole (with what was done with it since) leaving the audit clean."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from pulsa.demo import DEMO_CUSTOMERS, load_demo
from wallet.audit import audit
from wallet.backoffice import staff_top_up, staff_transfer
from wallet.calls import CallPolicy, CallRequest, TariffCache, authorize_call, settle_call
from wallet.customers import create_customer
from wallet.db import Database
from wallet.demo import DemoRow, preview_removal, remove_demo
from wallet.internet import buy_package, create_login, create_package
from wallet.models import Account, Call, CallRecord, Customer, Hold, LedgerEntry, RateRow
from wallet.payments import create_payment_request
from wallet.reports import revenue_by_period, today_figures
from wallet.tariffs import export_rates, get_plan, import_rates

OPERATOR_RATES = "prefix,description,price_per_minute\n628,Mobile,1000\n*,Other,2000\n"
JAKARTA = ZoneInfo("Asia/Jakarta")


@pytest.fixture
def fresh(empty_db: Database) -> Database:
    return empty_db


def demo(db: Database) -> list[str]:
    return db.run(
        lambda s: load_demo(s, currency="IDR", timezone="Asia/Jakarta", plan_name="default")
    )


def count(db: Database, model) -> int:
    with db.transaction() as session:
        return session.execute(select(func.count()).select_from(model)).scalar_one()


def test_make_run_twice_keeps_the_tariff_imported_in_between(fresh):
    assert "8 rates" in demo(fresh)[0]
    fresh.run(lambda s: import_rates(s, "default", OPERATOR_RATES))
    assert demo(fresh) == ["demo data not loaded: the demo is loaded already"]
    with fresh.transaction() as session:
        rates = export_rates(session, "default").splitlines()[1:]
    assert sorted(line.split(",")[0] for line in rates) == ["*", "628"]
    assert count(fresh, Customer) == len(DEMO_CUSTOMERS)


def test_the_demo_never_goes_into_a_database_with_the_operators_data(fresh):
    fresh.run(lambda s: create_customer(s, "Ibu Ani", currency="IDR"))
    (line,) = demo(fresh)
    assert line.startswith("demo data not loaded: the database has the operator's own data")
    assert "customers" in line
    assert count(fresh, Customer) == 1 and count(fresh, RateRow) == 0


def test_the_demos_opening_balances_are_not_top_ups_or_revenue(fresh):
    demo(fresh)
    now = datetime.now(UTC).replace(tzinfo=None)
    with fresh.transaction() as session:
        today = today_figures(session, JAKARTA, 0)
        days = revenue_by_period(session, now - timedelta(days=1), now + timedelta(days=1), JAKARTA)
        balances = sum(session.execute(select(Account.balance)).scalars())
    assert (today.topups, today.topup_count) == (0, 0)
    assert sum(day.topups for day in days) == 0
    assert balances == sum(customer[3] for customer in DEMO_CUSTOMERS)


def use_the_demo(db: Database) -> tuple[int, int]:
    """What an operator trying pulsa does with the demo: calls, a top-up, a transfer to
    a customer of their own, an internet package, a payment request, a call still up.
    Returns the operator's own account and what it holds."""
    policy = CallPolicy()
    with db.transaction() as session:
        sari = session.execute(
            select(Account.id).join(Customer).where(Customer.name == "Warung Bu Sari")
        ).scalar_one()

    def call(uniqueid: str):
        request = CallRequest(
            identities=[("callerid", "6281200000001")],
            dialled="6281299999",
            at=datetime(2026, 11, 23, 5, 0, tzinfo=UTC),
            uniqueid=uniqueid,
            caller="6281200000001",
        )
        return db.run(lambda s: authorize_call(s, request, policy, TariffCache()))

    ended = call("1795410450.1")
    db.run(lambda s: settle_call(s, ended.call_id, billsec=95, disposition="ANSWERED"))
    call("1795410450.2")  # still up: an open hold and a live call

    def operator_side(session):
        _, account = create_customer(session, "Ibu Ani", currency="IDR", tariff_plan="default")
        staff_top_up(
            session,
            sari,
            20_000_000_000,
            key="t1",
            method="cash",
            reference=None,
            note=None,
            actor="web:admin",
        )
        staff_transfer(
            session, sari, account.id, 5_000_000_000, key="x1", note=None, actor="web:admin"
        )
        package = create_package(
            session, "Harian", price=5_000_000_000, validity_value=1, validity_unit="days"
        )
        login = create_login(session, _customer_of(session, sari), "sari")
        buy_package(session, login.id, package.id, key="p1")
        create_payment_request(session, sari, 10_000_000_000)
        return account.id

    own = db.run(operator_side)
    return own, 5_000_000_000


def _customer_of(session, account_id: int) -> int:
    return session.get(Account, account_id).customer_id


def test_removing_the_demo_leaves_the_audit_clean_and_no_demo_row_behind(fresh):
    demo(fresh)
    own, held = use_the_demo(fresh)
    with fresh.transaction() as session:
        preview = preview_removal(session)
    assert preview.rows["customers"] == 3 and preview.rows["calls"] == 2
    assert preview.kept_plans == ["default"]  # Ibu Ani is on it
    removal = fresh.run(lambda s: remove_demo(s, actor="cli"))
    assert removal.rows == preview.rows
    with fresh.transaction() as session:
        report = audit(session)
        assert report.clean, report.problems
        assert session.execute(select(Customer.name)).scalars().all() == ["Ibu Ani"]
        assert session.execute(select(Account.id)).scalars().all() == [own]
        # The operator's side of the transfer stays: it is their customer's money.
        assert session.execute(select(LedgerEntry.account_id, LedgerEntry.amount)).all() == [
            (own, held)
        ]
        for model in (Hold, Call, CallRecord, DemoRow):
            assert session.execute(select(func.count()).select_from(model)).scalar_one() == 0
        from wallet.hotspot_models import HotspotLogin, Subscription
        from wallet.payments import PaymentRequest

        for model in (HotspotLogin, Subscription, PaymentRequest):
            assert session.execute(select(func.count()).select_from(model)).scalar_one() == 0
        plan = get_plan(session, "default")
        assert (
            session.execute(
                select(func.count(RateRow.id)).where(RateRow.plan_id == plan.id)
            ).scalar_one()
            == 0
        )


def test_removing_an_untouched_demo_removes_its_tariff_plan_too(fresh):
    demo(fresh)
    fresh.run(lambda s: remove_demo(s, actor="cli"))
    from wallet.models import HolidayRow, TariffPlan, TimeBandRow

    for model in (Customer, Account, LedgerEntry, TariffPlan, TimeBandRow, HolidayRow, RateRow):
        assert count(fresh, model) == 0, model
    assert demo(fresh) == [
        "demo data not loaded: the demo was removed from this database; it is not loaded again"
    ]


def test_a_tariff_imported_over_the_demos_stays_with_the_bands_it_uses(fresh):
    demo(fresh)
    fresh.run(
        lambda s: import_rates(
            s, "default", "prefix,price_per_minute,band\n628,900,peak\n628,700,offpeak\n"
        )
    )
    removal = fresh.run(lambda s: remove_demo(s, actor="cli"))
    assert removal.kept_plans == ["default"] and "rates" not in removal.rows
    from wallet.models import TimeBandRow

    with fresh.transaction() as session:
        assert sorted(session.execute(select(TimeBandRow.name)).scalars()) == ["offpeak", "peak"]
        assert len(export_rates(session, "default").splitlines()) == 3
    assert count(fresh, Customer) == 0
