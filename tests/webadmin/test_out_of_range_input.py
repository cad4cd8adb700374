"""Out-of-range and odd input is a field error or a 404, never an HTTP 500 (issue 12,
finding 6): numbers beyond 64 bits, digits of other scripts, days at the end of the
calendar."""

from __future__ import annotations

import pytest

from tests.conftest import make_account
from tests.webadmin.conftest import field_errors, unique_name
from tests.webadmin.test_customers import balance, customer_of, form_key

UNIT = 1_000_000
BEYOND_64_BITS = "99999999999999999999"


@pytest.mark.parametrize(
    "url",
    [
        f"/customers/{BEYOND_64_BITS}",
        f"/payments/{BEYOND_64_BITS}",
        f"/tariffs/{BEYOND_64_BITS}",
        f"/vouchers/{BEYOND_64_BITS}",
        f"/internet/{BEYOND_64_BITS}",
        f"/staff/{BEYOND_64_BITS}",
        "/customers/\u0665",
    ],
)
def test_customer_id_beyond_64_bits_is_not_found(admin, url):
    assert admin.get(url).status_code == 404


def test_a_transfer_to_an_account_beyond_64_bits_is_a_field_error(db, admin):
    source = make_account(db, 1_000 * UNIT)
    url = f"/customers/{customer_of(db, source)}/transfer"
    response = admin.post(
        url,
        data={"key": form_key(admin, url), "to_account": BEYOND_64_BITS, "amount": "5"},
    )
    assert response.status_code == 200
    assert "too large" in field_errors(response.get_data(as_text=True), "to_account")[0]
    assert balance(db, source) == 1_000 * UNIT


@pytest.mark.parametrize("typed", ["\u00b2", "\u0665"])
def test_digits_of_other_scripts_in_a_number_field_are_a_field_error(db, admin, typed):
    source = make_account(db, 1_000 * UNIT)
    url = f"/customers/{customer_of(db, source)}/transfer"
    response = admin.post(
        url, data={"key": form_key(admin, url), "to_account": typed, "amount": "5"}
    )
    assert response.status_code == 200
    assert "digits 0 to 9" in field_errors(response.get_data(as_text=True), "to_account")[0]
    assert balance(db, source) == 1_000 * UNIT


@pytest.mark.parametrize(
    "url",
    [
        "/calls/?from=9999-12-31&to=9999-12-31",
        "/audit/?to=9999-12-31",
        "/reports/?from=0001-01-01&to=9999-12-31",
        "/vouchers/report?to=9999-12-31",
    ],
)
def test_a_day_at_the_end_of_the_calendar_in_a_filter_is_a_field_error(admin, url):
    response = admin.get(url)
    assert response.status_code == 200
    assert "Enter a day between" in field_errors(response.get_data(as_text=True), "to")[0]


@pytest.mark.parametrize(
    "query", [f"customer={BEYOND_64_BITS}", "customer=\u00b2", f"page={BEYOND_64_BITS}"]
)
def test_odd_numbers_in_the_calls_filter_find_nothing_rather_than_fail(admin, query):
    assert admin.get(f"/calls/?{query}").status_code == 200


def test_a_holiday_at_the_end_of_the_calendar_is_a_field_error(db, admin):
    plan = admin.post("/tariffs/new", data={"name": unique_name("plan"), "timezone": "UTC"})
    plan_url = plan.headers["Location"]
    band = {"name": "peak", "days": "all", "start": "08:00", "end": "17:00"}
    assert admin.post(f"{plan_url}/bands", data=band).status_code == 302
    response = admin.post(f"{plan_url}/holidays", data={"day": "9999-12-31", "band": "peak"})
    assert response.status_code == 200
    assert "Enter a day between" in field_errors(response.get_data(as_text=True), "day")[0]


def test_a_voucher_batch_number_in_other_digits_is_ignored(admin):
    response = admin.post("/vouchers/sell", data={"codes": "X", "batch": "\u00b2"})
    assert response.status_code != 500
