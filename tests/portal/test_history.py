"""History: every ledger entry in plain words, by month, keyset pages, CSV, and calls."""

from __future__ import annotations

import csv
import io
import secrets
from datetime import datetime

import pytest

from tests.portal.conftest import make_customer, signed_in
from wallet import ledger
from wallet.internet import buy_package, create_login, create_package
from wallet.models import Call, CallRecord

NOW = datetime(2026, 12, 3, 9, 0)


def a_month_of_everything(db, person) -> None:
    """Top-ups, a call, a package, a voucher, a refund and a correction on one wallet."""
    account = person.account_id
    tag = secrets.token_hex(3)

    def work(session):
        ledger.top_up(
            session,
            account,
            10_000_000_000,
            key=f"h1{tag}",
            method="bank_transfer",
            reference="123",
        )
        ledger.top_up(session, account, 5_000_000_000, key=f"h2{tag}", method="voucher")
        hold = ledger.open_hold(session, account, 2_000_000_000, reference=f"u{tag}")
        session.add(
            Call(
                account_id=account,
                hold_id=hold.id,
                uniqueid=f"u{tag}",
                dialled="6281234567890",
                status="ended",
                authorized_at=NOW,
            )
        )
        session.add(
            CallRecord(
                account_id=account,
                hold_id=hold.id,
                uniqueid=f"u{tag}",
                callee="6281234567890",
                start_at=NOW,
                billsec=192,
                duration=195,
                cost=1_500_000_000,
                disposition="ANSWERED",
                created_at=NOW,
            )
        )
        session.flush()
        ledger.settle_hold(session, hold.id, 1_500_000_000, key=f"h3{tag}")
        package = create_package(
            session, f"Harian 5M {tag}", price=3_000_000_000, validity_value=1, validity_unit="days"
        )
        login = create_login(session, person.customer_id, f"h{tag}", "pass1234")
        buy_package(session, login.id, package.id, key=f"h4{tag}")
        ledger.refund(session, account, 500_000_000, key=f"h5{tag}")
        ledger.adjust(
            session, account, -250_000_000, key=f"h6{tag}", reason="meter reading", actor="web:boss"
        )

    db.run(work)


def test_every_entry_reads_in_plain_words(portal, db):
    person = make_customer(db)
    a_month_of_everything(db, person)
    page = signed_in(portal, person).get("/history/").get_data(as_text=True)
    for words in (
        "Top-up, bank transfer, ref 123",
        "Voucher",
        "Call to 0812-3456-7890, 3 min 12 s",
        "Internet package Harian 5M",
        "Refund",
        "Correction: meter reading",
    ):
        assert words in page, words


def test_pages_are_cut_by_the_last_entry_shown(portal, db):
    person = make_customer(db)
    db.run(
        lambda s: [
            ledger.top_up(
                s, person.account_id, 1_000_000 * (n + 1), key=f"p{person.account_id}-{n}"
            )
            for n in range(30)
        ]
    )
    client = signed_in(portal, person)
    first = client.get("/history/").get_data(as_text=True)
    assert "+IDR 30<" in first and "+IDR 6<" in first and "+IDR 5<" not in first
    older = first.split('rel="next"')[0].rsplit('href="', 1)[1].split('"')[0].replace("&amp;", "&")
    second = client.get(older).get_data(as_text=True)
    assert "+IDR 5<" in second and "+IDR 1<" in second and "+IDR 6<" not in second
    assert 'rel="next"' not in second
    newer = second.split('rel="prev"')[0].rsplit('href="', 1)[1].split('"')[0].replace("&amp;", "&")
    assert "+IDR 30<" in client.get(newer).get_data(as_text=True)


def test_a_month_with_nothing_says_so_and_a_bad_month_shows_all(portal, db):
    person = make_customer(db, 1_000_000_000)
    client = signed_in(portal, person)
    assert "Nothing yet." in client.get("/history/?month=2001-01").get_data(as_text=True)
    assert "IDR 1,000" in client.get("/history/?month=junk&before=x").get_data(as_text=True)


def test_the_csv_statement_is_the_month_and_neutralizes_formulas(portal, db):
    person = make_customer(db)
    db.run(
        lambda s: ledger.adjust(
            s,
            person.account_id,
            1_000_000_000,
            key=f"f{person.account_id}",
            reason="=HYPERLINK(1)",
            actor="web:boss",
        )
    )
    client = signed_in(portal, person)
    month = datetime.now().strftime("%Y-%m")
    response = client.get(f"/history/statement.csv?month={month}")
    assert response.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0] == ["Date", "Description", "Amount", "Balance"]
    assert rows[1][1] == "Correction: =HYPERLINK(1)" and rows[1][2] == "1000"
    description = rows[1][1]
    assert not description.startswith("=")


def test_calls_show_destination_start_duration_and_cost(portal, db):
    person = make_customer(db)
    a_month_of_everything(db, person)
    page = signed_in(portal, person).get("/history/calls").get_data(as_text=True)
    assert "0812-3456-7890" in page and "3 min 12 s" in page and "IDR 1,500" in page


def test_another_customers_history_is_never_shown(portal, db):
    person, other = make_customer(db), make_customer(db)
    a_month_of_everything(db, other)
    client = signed_in(portal, person)
    assert "ref 123" not in client.get("/history/").get_data(as_text=True)
    assert "0812-3456-7890" not in client.get("/history/calls").get_data(as_text=True)
    csv_text = client.get("/history/statement.csv").get_data(as_text=True)
    assert "ref 123" not in csv_text


@pytest.mark.parametrize(
    "url",
    [
        "/help/99999999999999999999",
        "/internet/buy/99999999999999999999",
        "/help/\u0665",
        "/history/?month=9999-12",
        "/history/?month=\u0662\u0660\u0662\u0666-01",
        "/history/?before=\u00b2",
    ],
)
def test_ids_beyond_64_bits_and_odd_months_are_not_found_or_ignored(portal, db, url):
    client = signed_in(portal, make_customer(db))
    assert client.get(url).status_code in (200, 404)


def test_entries_pulsa_wrote_itself_read_in_the_customers_language(portal, db):
    """An extension ("subscription 5 +7 days" as stored), a confirmed top-up request with
    no reference of the customer's ("payment request 9") and a demo opening balance read
    as words in Indonesian, never as the stored English."""
    person = make_customer(db, 20_000_000_000)
    tag = secrets.token_hex(3)

    def work(session):
        ledger.spend(
            session,
            person.account_id,
            1_000_000_000,
            key=f"x{tag}",
            kind="package",
            reference="subscription 5 +7 days",
        )
        ledger.top_up(
            session,
            person.account_id,
            2_000_000_000,
            key=f"p{tag}",
            method="bank_transfer",
            reference="payment request 9",
        )
        ledger.adjust(
            session, person.account_id, 1, key=f"d{tag}", reason="demo opening balance", actor="t"
        )

    db.run(work)
    client = signed_in(portal, person)
    english = client.get("/history/").get_data(as_text=True)
    assert "Internet package extended by 7 days" in english and "ref payment" not in english
    client.post("/language", data={"locale": "id", "next": "/history/"})
    page = client.get("/history/").get_data(as_text=True)
    assert "Paket internet diperpanjang 7 hari" in page
    assert "Saldo awal demo" in page
    assert "payment request" not in page and "+7 days" not in page and "subscription" not in page
