"""What the admin shows for stored codes and counts reads in the reader's language: ledger
kinds, wallet states, call outcomes, singular and plural counts."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.webadmin.calls_data import calling_account, place_call
from tests.webadmin.test_customers import customer_of
from tests.webadmin.test_reports import top_up

MORNING = datetime(2026, 5, 4, 2, 0, tzinfo=UTC)


def test_the_ledger_and_the_wallet_read_in_indonesian(db, admin, admin_id):
    account_id, _code = calling_account(db)
    top_up(admin, db, account_id, "10000", "cash")
    page = admin_id.get(f"/customers/{customer_of(db, account_id)}").get_data(as_text=True)
    assert "<td>Isi ulang</td>" in page and "<td>topup</td>" not in page
    assert "<dd>Aktif</dd>" in page and "<dd>active</dd>" not in page
    english = admin.get(f"/customers/{customer_of(db, account_id)}").get_data(as_text=True)
    assert "<td>Top-up</td>" in english and "<dd>Active</dd>" in english


def test_call_outcomes_and_counts_read_in_indonesian_singular_and_plural(db, admin, admin_id):
    account_id, code = calling_account(db)
    place_call(db, code, "628111", MORNING, 61)
    page = admin_id.get(f"/calls/?customer={account_id}").get_data(as_text=True)
    assert ">Dijawab<" in page and ">ANSWERED<" not in page
    assert "Total: 1 panggilan" in page and "1 baris" in page
    english = admin.get(f"/calls/?customer={account_id}").get_data(as_text=True)
    assert "Total: 1 call<" in english or "Total: 1 call " in english
    assert "1 row<" in english and "1 rows" not in english
