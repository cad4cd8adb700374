"""What the staff chat reads besides the routers: the daily summary (wallet.reports) and
a voucher batch's printable sheet (hotspot.voucher_sheet), on an empty database of each
backend so that the figures are exactly this test's."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import update

from hotspot.voucher_sheet import SHEET_SIZE, batch_sheet
from tests.conftest import make_account, unique_key
from tests.hotspot.builders import RUPIAH, make_login, make_package, unique_prefix
from tests.hotspot.router import HotspotRouter, keyring, register
from wallet import ledger
from wallet.hotspot_models import Router, Voucher
from wallet.internet import buy_package, start_subscription
from wallet.payments import create_payment_request
from wallet.reports import daily_summary
from wallet.vouchers import generate_batch

JAKARTA = ZoneInfo("Asia/Jakarta")


def test_the_daily_summary_counts_the_operators_day(empty_db):
    db = empty_db
    now = ledger.utcnow()
    account = make_account(db, 0)
    db.run(lambda s: ledger.top_up(s, account, 20_000 * RUPIAH, key=unique_key("t")))
    db.run(lambda s: create_payment_request(s, account, 5_000 * RUPIAH))
    package = make_package(db, 3_000 * RUPIAH)
    _login_account, login = make_login(db, 10_000 * RUPIAH, username="ending-soon")
    db.run(
        lambda s: start_subscription(
            s, buy_package(s, login, package, key=unique_key("b"), now=now).id, now
        )
    )
    with HotspotRouter() as up, HotspotRouter() as down:
        ring = keyring()
        register(db, ring, up, name="up-router")
        down_id = register(db, ring, down, name="down-router")
    db.run(
        lambda s: s.execute(update(Router).where(Router.id == down_id).values(last_sync_ok=False))
    )

    summary = db.run(lambda s: daily_summary(s, JAKARTA, now=now + timedelta(minutes=1)))

    # 20,000 here plus the 10,000 the login's wallet was opened with.
    assert (summary.topups, summary.topup_count) == (30_000 * RUPIAH, 2)
    assert summary.revenue == 30_000 * RUPIAH
    assert summary.new_customers == 2
    assert summary.packages_ending == 1
    assert [name for name, _ in summary.ending_logins] == ["ending-soon"]
    assert summary.routers_down == ["down-router"]
    assert summary.pending_payments == 1


def test_a_package_ending_after_a_day_is_not_ending(empty_db):
    db = empty_db
    now = ledger.utcnow()
    package = make_package(db, 1_000 * RUPIAH, validity_value=3)
    _account, login = make_login(db, 5_000 * RUPIAH)
    db.run(
        lambda s: start_subscription(
            s, buy_package(s, login, package, key=unique_key("b"), now=now).id, now
        )
    )
    summary = db.run(lambda s: daily_summary(s, JAKARTA, now=now))
    assert summary.packages_ending == 0


def test_a_batch_sheet_holds_its_unsold_vouchers_with_their_qr_codes(db):
    batch_id = db.run(
        lambda s: generate_batch(s, count=3, price=5 * RUPIAH, prefix=unique_prefix("S")).id
    )
    codes = db.run(
        lambda s: [v.code for v in s.query(Voucher).filter_by(batch_id=batch_id).order_by("id")]
    )
    db.run(
        lambda s: s.execute(update(Voucher).where(Voucher.code == codes[0]).values(status="sold"))
    )
    page = db.run(
        lambda s: batch_sheet(
            s,
            batch_id,
            brand="RW 07 Net",
            default_login_url="http://hotspot.lan/login",
            price_text=lambda amount: f"Rp {amount // RUPIAH if amount else 0}",
            credit_name="Voucher kredit",
            credit_validity="kredit dompet",
        )
    )
    assert "RW 07 Net" in page and "Voucher kredit" in page and "Rp 5" in page
    assert codes[0] not in page
    assert codes[1] in page and codes[2] in page
    assert page.count("<svg") == 2
    assert SHEET_SIZE >= 3
