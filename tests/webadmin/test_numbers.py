"""Numbers as an operator types them: caller IDs kept in one form, the calculator saying
how it rewrote a number and warning when only the catch-all rate matched, and times in
the tariff plan's own time zone."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from pulsa.settings import load_settings
from tests.conftest import make_account
from tests.webadmin.conftest import AdminClient, signed_in
from tests.webadmin.test_tariffs import GOOD, new_plan
from wallet.models import SipIdentity
from webadmin import create_app


@pytest.fixture
def indonesian_admin(db, superuser, tmp_path) -> AdminClient:
    """A super admin of an operator whose PULSA_COUNTRY_CODE is 62."""
    settings = load_settings(
        {
            "PULSA_DATABASE_URL": db.url,
            "PULSA_SECRET_KEY": "test-secret",
            "PULSA_COUNTRY_CODE": "62",
        }
    )
    app = create_app(settings, db, upload_folder=tmp_path / "uploads")
    app.test_client_class = AdminClient
    return signed_in(app, superuser)


def plan_with_rates(admin, db) -> int:
    plan_id, _ = new_plan(admin, db)
    admin.post(f"/tariffs/{plan_id}/import", data={"text": GOOD, "mode": "replace", "confirm": "1"})
    return plan_id


def calculate(admin, plan_id: int, number: str, when: str = "2026-11-23T10:00") -> str:
    return admin.get(
        "/tariffs/calculator", query_string={"plan": plan_id, "number": number, "when": when}
    ).get_data(as_text=True)


def test_a_national_number_without_a_country_code_is_warned_about(db, admin):
    plan_id = plan_with_rates(admin, db)
    page = calculate(admin, plan_id, "0812 3456 7890")
    assert "Only the catch-all rate (*) matched" in page
    assert "PULSA_COUNTRY_CODE" in page and "<code>*</code>" in page
    plan_page = admin.get(f"/tariffs/{plan_id}").get_data(as_text=True)
    assert "No country code is set" in plan_page and "Setup screen" in plan_page


def test_an_unknown_international_number_is_warned_about_too(db, admin):
    plan_id = plan_with_rates(admin, db)
    page = calculate(admin, plan_id, "+44 20 7946 0000")
    assert "Rated as 442079460000 (typed +44 20 7946 0000)." in page
    assert "442079460000 starts with none of the prefixes of this plan" in page


def test_with_the_country_code_the_calculator_shows_how_it_rewrote_the_number(db, indonesian_admin):
    plan_id = plan_with_rates(indonesian_admin, db)
    page = calculate(indonesian_admin, plan_id, "0812-3456-7890")
    assert "Rated as 6281234567890 (typed 0812-3456-7890)." in page
    assert "<code>628</code> Mobile" in page and "catch-all" not in page
    plan_page = indonesian_admin.get(f"/tariffs/{plan_id}").get_data(as_text=True)
    assert "No country code is set" not in plan_page


def test_the_calculator_reads_and_shows_times_in_the_plans_time_zone(db, admin):
    plan_id = plan_with_rates(admin, db)  # Asia/Jakarta, peak mon-fri 08:00-18:00
    early = calculate(admin, plan_id, "628123", when="2026-11-23T07:30")
    assert "2026-11-23 07:30 (Asia/Jakarta)" in early
    assert "IDR 1,800" in early  # 07:30 in Jakarta is before peak: 600 a minute
    peak = calculate(admin, plan_id, "628123", when="2026-11-23T08:30")
    assert "IDR 3,600" in peak
    assert "time zone" in admin.get("/tariffs/calculator").get_data(as_text=True)


@pytest.mark.parametrize("typed", ["0812 7000 1234", "+62 812-7000-1234", "6281270001234"])
def test_a_caller_id_is_stored_in_one_form_however_it_is_typed(db, indonesian_admin, typed):
    account_id = make_account(db)
    with db.transaction() as session:
        session.execute(SipIdentity.__table__.delete().where(SipIdentity.value == "6281270001234"))
        from wallet.models import Account

        customer_id = session.get(Account, account_id).customer_id
    indonesian_admin.post(
        f"/customers/{customer_id}/identities", data={"kind": "callerid", "value": typed}
    )
    with db.transaction() as session:
        values = session.execute(
            select(SipIdentity.value).where(SipIdentity.account_id == account_id)
        ).scalars()
        assert list(values) == ["6281270001234"]


def test_the_calculators_billing_reads_in_seconds_of_the_readers_language(db, admin, admin_id):
    plan_id = plan_with_rates(admin, db)
    english = calculate(admin, plan_id, "6281234567890")
    indonesian = calculate(admin_id, plan_id, "6281234567890")
    assert re.search(r"<dd>\d+/\d+ s[< ]", english)
    assert re.search(r"<dd>\d+/\d+ dtk[< ]", indonesian)
