"""Control characters: refused wherever text is typed (every form of the admin, the
services behind them, the command line), and harmless where they are already stored
(exports, the terminal)."""

from __future__ import annotations

import importlib
import io

import pytest
from flask_wtf import FlaskForm
from openpyxl import load_workbook
from sqlalchemy import select

from tests.integration.test_cli import run
from tests.webadmin.calls_data import calling_account, place_call
from tests.webadmin.conftest import field_errors, unique_name
from tests.webadmin.test_calls import MORNING
from wallet.customers import create_customer
from wallet.db import Database
from wallet.errors import InvalidInput
from wallet.models import Account, Customer
from webadmin.exports import HEADER_ROW
from webadmin.screens import SCREEN_MODULES
from webcommon.forms import Form


def store_name_as_before(db, account_id: int, name: str) -> None:
    """A name saved before control characters were refused (written straight to the
    row, as an older pulsa would have)."""

    def work(session):
        customer = session.get(Customer, session.get(Account, account_id).customer_id)
        customer.name = name

    db.run(work)


def test_every_form_of_the_admin_refuses_control_characters():
    for module in SCREEN_MODULES:
        importlib.import_module(module)
    forms = []
    pending = list(FlaskForm.__subclasses__())
    while pending:
        form = pending.pop()
        pending.extend(form.__subclasses__())
        if form.__module__.startswith("webadmin."):
            forms.append(form)
    assert len(forms) > 20
    assert [f.__qualname__ for f in forms if not issubclass(f, Form)] == []


def test_a_customer_name_with_a_control_character_is_refused_beside_the_field(db, admin):
    name = unique_name("Siti")
    response = admin.post(
        "/customers/new",
        data={"name": f"{name}\x1b[2J", "kind": "individual", "credit_limit": "0", "plan": ""},
    )
    assert response.status_code == 200
    assert field_errors(response.get_data(as_text=True), "name") == [
        "Remove the invisible control character (U+001B) from this text."
    ]
    with db.transaction() as session:
        assert session.execute(select(Customer).where(Customer.name.contains(name))).first() is None


def test_a_reason_may_have_several_lines_but_no_other_control_character(db, admin):
    form_cls = importlib.import_module("webadmin.screens.payments").RejectForm
    with admin.application.test_request_context(
        method="POST", data={"reason": "line one\r\nline two\tok"}
    ):
        form = form_cls(meta={"csrf": False})
        form.validate()
        assert form.reason.errors == []
    with admin.application.test_request_context(method="POST", data={"reason": "bad\x07"}):
        form = form_cls(meta={"csrf": False})
        form.validate()
        assert form.reason.errors == [
            "Remove the invisible control character (U+0007) from this text."
        ]


def test_the_wallet_refuses_a_control_character_in_a_name_as_the_last_line_of_defence(db):
    with pytest.raises(InvalidInput, match="control character"):
        db.run(lambda s: create_customer(s, "Budi\x00", currency="IDR"))


def test_the_command_line_refuses_a_control_character_and_never_prints_one(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PULSA_DATABASE_URL", f"sqlite:///{tmp_path / 'pulsa.db'}")
    assert run("db", "upgrade")[0] == 0
    code, _out, err = run("customer", "add", "Ibu\x07Ani")
    assert code == 1 and "control character (U+0007)" in err
    code, out, _err = run("customer", "add", "Ibu Ani")
    account_id = int(out.split()[-1])
    database = Database(f"sqlite:///{tmp_path / 'pulsa.db'}")
    store_name_as_before(database, account_id, "Ibu\x1b[2JAni")
    database.dispose()
    code, out, err = run("customer", "list")
    assert err == ""
    assert code == 0 and "Ibu\ufffd[2JAni" in out and "\x1b" not in out


def test_the_calls_excel_export_works_for_a_name_stored_with_a_control_character(db, admin):
    account_id, code = calling_account(db)
    name = f"Warung\x01{unique_name('')}"
    store_name_as_before(db, account_id, name)
    place_call(db, code, "628111", MORNING, 60)
    response = admin.get("/calls/?from=2026-03-01&to=2026-03-03&format=xlsx")
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.data)).active
    names = [row[1] for row in sheet.iter_rows(min_row=HEADER_ROW + 1, values_only=True)]
    assert name.replace("\x01", "\ufffd") in names


def test_the_calls_csv_export_replaces_a_stored_control_character(db, admin):
    account_id, code = calling_account(db)
    name = f"Toko\x1b{unique_name('')}"
    store_name_as_before(db, account_id, name)
    place_call(db, code, "628111", MORNING, 60)
    response = admin.get(f"/calls/?customer={account_id}&format=csv")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    body = response.get_data(as_text=True)
    assert "\x1b" not in body and name.replace("\x1b", "\ufffd") in body
