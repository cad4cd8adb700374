"""Issue 5: every form shows its errors beside the field they are about, and every list
paginates. These cover the forms and lists that used to put errors at the top of the page
or list every row: SIP identities, time bands, holidays, tariff plans, payment rejections;
roles, live calls, time bands, holidays and open holds."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select

from tests.conftest import make_account, unique_key
from tests.webadmin.calls_data import calling_account, place_call
from tests.webadmin.conftest import field_errors, unique_name
from tests.webadmin.test_customers import customer_of
from tests.webadmin.test_payments import pending_request
from wallet import ledger
from wallet.customers import add_identity
from wallet.models import SipIdentity, TariffPlan, TimeBandRow
from wallet.payments import PaymentRequest
from wallet.staff import save_role
from wallet.tariffs import add_band, add_holiday, ensure_plan
from webadmin.ui import PER_PAGE

UNIT = 1_000_000


def new_plan(db, bands: int = 1) -> tuple[int, str]:
    """A plan with `bands` time bands named b00, b01, ..."""
    name = unique_name("plan")

    def work(session):
        plan = ensure_plan(session, name, "Asia/Jakarta")
        for number in range(bands):
            add_band(session, name, f"b{number:02d}", "mon-fri", "08:00", "18:00")
        return plan.id

    return db.run(work), name


# --- errors beside their field ----------------------------------------------------------


def test_an_identity_without_a_value_is_refused_beside_the_value_field(db, admin):
    customer_id = customer_of(db, make_account(db))
    response = admin.post(
        f"/customers/{customer_id}/identities", data={"kind": "accountcode", "value": ""}
    )
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert field_errors(page, "value") == ["Enter a value for the identity."]
    assert field_errors(page, "kind") == []
    assert "flash-error" not in page


def test_an_identity_of_another_account_is_refused_beside_the_value_field_as_typed(db, admin):
    taken = unique_name("code")
    db.run(lambda s: add_identity(s, make_account(db), "accountcode", taken))
    customer_id = customer_of(db, make_account(db))
    page = admin.post(
        f"/customers/{customer_id}/identities", data={"kind": "accountcode", "value": taken}
    ).get_data(as_text=True)
    (error,) = field_errors(page, "value")
    assert "already belongs to account" in error
    assert f'value="{taken}"' in page  # the form comes back as it was sent
    with db.transaction() as session:
        owners = session.execute(select(SipIdentity).where(SipIdentity.value == taken)).all()
    assert len(owners) == 1


def test_a_band_with_unknown_days_and_times_is_refused_beside_each_field(db, admin):
    plan_id, _ = new_plan(db)
    response = admin.post(
        f"/tariffs/{plan_id}/bands",
        data={"name": "night", "days": "someday", "start": "25:00", "end": "6pm"},
    )
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "unknown day" in field_errors(page, "days")[0]
    assert "not a time of day" in field_errors(page, "start")[0]
    assert "not a time of day" in field_errors(page, "end")[0]
    with db.transaction() as session:
        names = session.execute(
            select(TimeBandRow.name).where(TimeBandRow.plan_id == plan_id)
        ).scalars()
        assert list(names) == ["b00"]


def test_a_holiday_without_a_date_is_refused_beside_the_date_field(db, admin):
    plan_id, _ = new_plan(db)
    page = admin.post(
        f"/tariffs/{plan_id}/holidays", data={"day": "", "band": "b00", "name": "Natal"}
    ).get_data(as_text=True)
    assert field_errors(page, "day") == ["Enter a date."]
    assert field_errors(page, "band") == []


def test_a_holiday_priced_as_a_band_the_plan_lacks_is_refused_beside_the_band_field(db, admin):
    plan_id, _ = new_plan(db)
    page = admin.post(
        f"/tariffs/{plan_id}/holidays", data={"day": "2026-12-25", "band": "offpeak"}
    ).get_data(as_text=True)
    assert field_errors(page, "band")
    assert field_errors(page, "day") == []


def test_a_tariff_plan_with_a_taken_name_or_an_unknown_zone_is_refused_beside_the_field(db, admin):
    _, taken = new_plan(db)
    page = admin.post("/tariffs/new", data={"name": taken, "timezone": "Asia/Jakarta"}).get_data(
        as_text=True
    )
    (error,) = field_errors(page, "name")
    assert "exists already" in error
    name = unique_name("plan")
    response = admin.post("/tariffs/new", data={"name": name, "timezone": "Mars/Olympus"})
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert field_errors(page, "timezone") == ["Unknown time zone, e.g. Asia/Jakarta."]
    assert field_errors(page, "name") == []
    with db.transaction() as session:
        assert session.execute(select(TariffPlan).where(TariffPlan.name == name)).first() is None


def test_a_rejection_without_a_reason_is_refused_beside_the_reason_field(db, admin):
    _, request_id = pending_request(db)
    response = admin.post(f"/payments/{request_id}/reject", data={"reason": "  "})
    assert response.status_code == 200
    assert field_errors(response.get_data(as_text=True), "reason") == ["Say why, for the customer."]
    with db.transaction() as session:
        assert session.get(PaymentRequest, request_id).status == "pending"


# --- lists that paginate -----------------------------------------------------------------


def rows_of(page: str, marker: str) -> int:
    return len(re.findall(marker, page))


def test_roles_beyond_a_page_go_on_to_the_next_page(db, admin):
    label = unique_name("pagerole")

    def work(session):
        for number in range(PER_PAGE + 1):
            save_role(session, f"{label}-{number:02d}", {"calls": "view"}, actor="test")

    db.run(work)
    page = admin.get("/staff/").get_data(as_text=True)
    roles = page.split("<h2>Roles</h2>")[1]
    assert rows_of(roles, r'href="/staff/roles/\d+"') == PER_PAGE
    assert "roles_page=2" in roles
    pages = int(re.search(r"Page 1 of (\d+)", roles).group(1))
    every = "".join(
        admin.get(f"/staff/?roles_page={n}").get_data(as_text=True).split("<h2>Roles</h2>")[1]
        for n in range(1, pages + 1)
    )
    assert all(f"{label}-{number:02d}<" in every for number in range(PER_PAGE + 1))


def test_live_calls_beyond_a_page_go_on_to_the_next_page(db, admin):
    _, code = calling_account(db)
    now = datetime.now(UTC)
    for second in range(51):
        place_call(db, code, "628111", now - timedelta(seconds=second), 0, settle=False)
    page = admin.get("/calls/live").get_data(as_text=True)
    assert rows_of(page, "<tr><td>") == 50
    assert 'href="/calls/live?page=2"' in page
    second_page = admin.get("/calls/live?page=2").get_data(as_text=True)
    assert rows_of(second_page, "<tr><td>") >= 1


def test_time_bands_beyond_a_page_go_on_to_the_next_page(db, admin):
    plan_id, _ = new_plan(db, bands=PER_PAGE + 1)
    page = admin.get(f"/tariffs/{plan_id}").get_data(as_text=True)
    assert rows_of(page, r"<li><strong>b\d\d</strong>") == PER_PAGE
    assert f"<strong>b{PER_PAGE:02d}</strong>" not in page
    assert f"/tariffs/{plan_id}?bands_page=2" in page
    page = admin.get(f"/tariffs/{plan_id}?bands_page=2").get_data(as_text=True)
    assert rows_of(page, r"<li><strong>b\d\d</strong>") == 1
    assert f"<strong>b{PER_PAGE:02d}</strong>" in page


def test_holidays_beyond_a_page_go_on_to_the_next_page(db, admin):
    plan_id, name = new_plan(db)
    first = date(2027, 1, 1)

    def work(session):
        for number in range(PER_PAGE + 1):
            add_holiday(session, name, first + timedelta(days=number), "b00", f"day {number}")

    db.run(work)
    last = (first + timedelta(days=PER_PAGE)).isoformat()
    page = admin.get(f"/tariffs/{plan_id}").get_data(as_text=True)
    assert rows_of(page, r"<li>2027-\d\d-\d\d ") == PER_PAGE and last not in page
    assert f"/tariffs/{plan_id}?holidays_page=2" in page
    page = admin.get(f"/tariffs/{plan_id}?holidays_page=2").get_data(as_text=True)
    assert rows_of(page, r"<li>2027-\d\d-\d\d ") == 1 and last in page


def test_open_holds_beyond_a_page_go_on_to_the_next_page(db, admin):
    account_id = make_account(db, 1000 * UNIT)

    def work(session):
        for number in range(PER_PAGE + 1):
            ledger.open_hold(session, account_id, UNIT, reference=unique_key(f"pagehold{number}"))

    db.run(work)
    customer_id = customer_of(db, account_id)
    page = admin.get(f"/customers/{customer_id}").get_data(as_text=True)
    holds = page.split("<h2>Open holds</h2>")[1].split("<h2>Ledger</h2>")[0]
    assert rows_of(holds, r"pagehold\d+") == PER_PAGE
    assert f"/customers/{customer_id}?holds_page=2" in holds
    page = admin.get(f"/customers/{customer_id}?holds_page=2").get_data(as_text=True)
    holds = page.split("<h2>Open holds</h2>")[1].split("<h2>Ledger</h2>")[0]
    assert rows_of(holds, r"pagehold\d+") == 1
