"""Amounts typed in the admin are read the way the operator writes them (issue 12,
findings 1 and 2): "50.000" is fifty thousand rupiah, an ambiguous or odd amount is
refused beside its field saying how it was read, and an exponent is never expanded."""

from __future__ import annotations

from tests.conftest import make_account
from tests.webadmin.conftest import field_errors, make_staff, signed_in
from tests.webadmin.test_customers import balance, customer_of, entries, form_key

UNIT = 1_000_000


def top_up(client, db, account_id: int, amount: str):
    url = f"/customers/{customer_of(db, account_id)}/top-up"
    return client.post(url, data={"key": form_key(client, url), "amount": amount, "method": "cash"})


def test_fifty_thousand_with_dots_credits_fifty_thousand_rupiah(db, admin):
    account_id = make_account(db)
    response = top_up(admin, db, account_id, "50.000")
    assert response.status_code == 302
    assert balance(db, account_id) == 50_000 * UNIT


def test_rupiah_written_with_its_prefix_and_dots_credits_the_amount(db, admin):
    account_id = make_account(db)
    top_up(admin, db, account_id, "Rp 1.250.000")
    assert balance(db, account_id) == 1_250_000 * UNIT


def test_one_and_a_half_rupiah_is_refused_beside_the_field_saying_how_it_was_read(db, admin):
    account_id = make_account(db)
    page = top_up(admin, db, account_id, "1,5").get_data(as_text=True)
    (error,) = field_errors(page, "amount")
    assert "read as 1.5" in error and "write 1 or 2" in error
    assert balance(db, account_id) == 0


def test_the_refusal_of_an_amount_is_in_the_staff_members_language(app, db):
    client = signed_in(app, make_staff(db, superuser=True, locale="id"))
    account_id = make_account(db)
    page = top_up(client, db, account_id, "1,5").get_data(as_text=True)
    (error,) = field_errors(page, "amount")
    assert "bukan jumlah utuh" in error
    assert balance(db, account_id) == 0


def test_an_adjustment_of_minus_minus_five_is_refused_not_credited(db, admin):
    account_id = make_account(db, 100 * UNIT)
    url = f"/customers/{customer_of(db, account_id)}/adjust"
    page = admin.post(
        url, data={"key": form_key(admin, url), "amount": "--5", "reason": "typo"}
    ).get_data(as_text=True)
    assert field_errors(page, "amount")
    assert balance(db, account_id) == 100 * UNIT
    assert all(entry.kind != "adjustment" for entry in entries(db, account_id))


def test_an_arabic_indic_digit_is_refused_not_read_as_five(db, admin):
    account_id = make_account(db)
    page = top_up(admin, db, account_id, "\u0665").get_data(as_text=True)
    assert "use the digits 0 to 9" in field_errors(page, "amount")[0]
    assert balance(db, account_id) == 0


def test_an_amount_near_the_limit_of_64_bits_is_a_field_error(db, admin):
    account_id = make_account(db)
    page = top_up(admin, db, account_id, "9200000000000").get_data(as_text=True)
    assert "too large" in field_errors(page, "amount")[0]
    assert balance(db, account_id) == 0


def test_a_cost_filter_with_an_exponent_is_refused_beside_the_field(admin):
    response = admin.get("/calls/?cost_min=1e400")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "without an exponent" in field_errors(page, "cost_min")[0]


def test_a_refused_cost_filter_exports_nothing_and_shows_why(admin):
    response = admin.get("/calls/?cost_max=1e20000000&format=csv")
    assert response.mimetype == "text/html"
    assert "without an exponent" in field_errors(response.get_data(as_text=True), "cost_max")[0]
