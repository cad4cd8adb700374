"""Jobs granted apart from screens: top up, adjust, transfer, change credit limits, see
revenue. A cashier who may only top up can do nothing else with money, by link or by
forged request, and sees no revenue."""

from __future__ import annotations

import pytest

from tests.conftest import make_account
from tests.webadmin.conftest import make_staff, signed_in
from tests.webadmin.test_customers import UNIT, balance, customer_of, form_key
from wallet.models import Account

CASHIER = {"dashboard": "view", "customers": "view", "top_up": "change"}


@pytest.fixture
def cashier(app, db):
    return signed_in(app, make_staff(db, grants=CASHIER))


def test_a_cashier_tops_up_and_sees_only_the_top_up_button(app, db, cashier):
    account_id = make_account(db)
    customer_id = customer_of(db, account_id)
    page = cashier.get(f"/customers/{customer_id}").get_data(as_text=True)
    assert f"/customers/{customer_id}/top-up" in page
    for hidden in ("/adjust", "/transfer", "/edit"):
        assert f"/customers/{customer_id}{hidden}" not in page
    url = f"/customers/{customer_id}/top-up"
    cashier.post(url, data={"key": form_key(cashier, url), "amount": "2000", "method": "cash"})
    assert balance(db, account_id) == 2_000 * UNIT


def test_a_cashier_cannot_adjust_transfer_or_change_a_credit_limit(app, db, cashier):
    account_id = make_account(db, 5_000 * UNIT)
    other = make_account(db)
    customer_id = customer_of(db, account_id)
    for job in ("adjust", "transfer"):
        assert cashier.get(f"/customers/{customer_id}/{job}").status_code == 403
    forged = {"key": "0" * 32, "amount": "1000", "reason": "x", "to_account": str(other)}
    assert cashier.post(f"/customers/{customer_id}/adjust", data=forged).status_code == 403
    assert cashier.post(f"/customers/{customer_id}/transfer", data=forged).status_code == 403
    edit = {"name": "X", "kind": "individual", "status": "active", "credit_limit": "9000"}
    assert cashier.post(f"/customers/{customer_id}/edit", data=edit).status_code == 403
    assert balance(db, account_id) == 5_000 * UNIT and balance(db, other) == 0


def test_a_cashier_sees_no_revenue_on_the_dashboard_and_no_reports(app, db, cashier):
    page = cashier.get("/").get_data(as_text=True)
    assert "Live calls now" in page
    assert "Today&#39;s top-ups" not in page and "Today's top-ups" not in page
    assert "Today&#39;s call revenue" not in page and "Revenue per day" not in page
    assert 'href="/reports/"' not in page
    assert cashier.get("/reports/").status_code == 403


def test_the_reports_screen_alone_does_not_show_revenue(app, db):
    viewer = signed_in(app, make_staff(db, grants={"reports": "view"}))
    assert viewer.get("/reports/").status_code == 403
    allowed = signed_in(app, make_staff(db, grants={"reports": "view", "revenue": "change"}))
    assert allowed.get("/reports/").status_code == 200
    assert 'href="/reports/"' in allowed.get("/reports/").get_data(as_text=True)


def test_revenue_shows_on_the_dashboard_with_the_revenue_job(app, db):
    manager = signed_in(app, make_staff(db, grants={"dashboard": "view", "revenue": "change"}))
    page = manager.get("/").get_data(as_text=True)
    assert "Revenue per day" in page and "call revenue" in page


def test_a_credit_limit_is_kept_when_an_editor_without_the_job_saves_a_customer(app, db):
    account_id = make_account(db, credit_limit=3_000 * UNIT)
    customer_id = customer_of(db, account_id)
    editor = signed_in(app, make_staff(db, grants={"customers": "change"}))
    url = f"/customers/{customer_id}/edit"
    assert 'name="credit_limit"' not in editor.get(url).get_data(as_text=True)
    response = editor.post(
        url,
        data={
            "name": "Renamed",
            "kind": "individual",
            "status": "active",
            "credit_limit": "99000",
            "plan": "",
        },
    )
    assert response.status_code == 302
    with db.transaction() as session:
        account = session.get(Account, account_id)
        assert account.credit_limit == 3_000 * UNIT and account.customer.name == "Renamed"
    limiter = signed_in(
        app, make_staff(db, grants={"customers": "change", "credit_limit": "change"})
    )
    assert 'name="credit_limit"' in limiter.get(url).get_data(as_text=True)
    limiter.post(
        url,
        data={
            "name": "Renamed",
            "kind": "individual",
            "status": "active",
            "credit_limit": "1000",
            "plan": "",
        },
    )
    with db.transaction() as session:
        assert session.get(Account, account_id).credit_limit == 1_000 * UNIT


def test_the_role_editor_explains_each_job_and_saves_it(app, db, superuser):
    admin = signed_in(app, superuser)
    page = admin.get("/staff/roles/new").get_data(as_text=True)
    for label in ("Top up", "Adjust", "Transfer", "Change credit limits", "See revenue"):
        assert label in page
    assert "Move credit from one customer" in page
    admin.post(
        "/staff/roles/new",
        data={"name": "kasir-jobs", "perm_customers": "view", "may_top_up": "1"},
    )
    from sqlalchemy import select

    from wallet.staff import Role

    with db.transaction() as session:
        role = session.execute(select(Role).where(Role.name == "kasir-jobs")).scalar_one()
        assert role.grants() == {"customers": "view", "top_up": "change"}
    assert "kasir-jobs" in admin.get("/staff/").get_data(as_text=True)
