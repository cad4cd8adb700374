"""The Vouchers screen: a batch is generated once per form (10,000 in one request, in
seconds), its page shows it and its count, the sheet prints a QR login per voucher on
A4 and thermal paper (in parts for big batches), sales and voids are recorded and
reported, a voucher is redeemed into a wallet once."""

from __future__ import annotations

import re
import time
from io import BytesIO

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from hotspot.routers import add_router
from tests.hotspot.builders import unique_prefix
from tests.webadmin.conftest import field_errors
from tests.webadmin.hotspot_data import (
    RUPIAH,
    balance_of,
    form_key,
    hotspot_settings,
    make_login,
    make_package,
    new_name,
    page_text,
    ring,
)
from wallet.hotspot_models import Voucher, VoucherBatch
from wallet.vouchers import generate_batch, mark_sold
from webadmin.exports import HEADER_ROW

PRICE = 5_000 * RUPIAH


@pytest.fixture
def settings(db):
    return hotspot_settings(db, PULSA_HOTSPOT_BRAND_NAME="RT 05 Net")


def generate_form(admin, **values) -> dict:
    page = page_text(admin.get("/vouchers/new"))
    return {"key": form_key(page), "length": "8", "alphabet": "upper", **values}


def batches_with(db, prefix: str) -> list[VoucherBatch]:
    with db.transaction() as session:
        return list(
            session.execute(select(VoucherBatch).where(VoucherBatch.prefix == prefix)).scalars()
        )


def vouchers_of(db, batch_id: int) -> list[Voucher]:
    with db.transaction() as session:
        return list(
            session.execute(
                select(Voucher).where(Voucher.batch_id == batch_id).order_by(Voucher.id)
            ).scalars()
        )


def test_a_batch_is_generated_once_per_form_and_its_page_shows_it_and_its_count(admin, db):
    package_id = make_package(db, PRICE)
    prefix = unique_prefix()
    data = generate_form(
        admin, package=str(package_id), count="25", prefix=prefix, note="pasar pagi"
    )
    first = admin.post("/vouchers/new", data=dict(data))
    assert first.status_code == 302
    page = page_text(admin.get(first.headers["Location"]))
    assert "Batch" in page and "25 vouchers" in page and "25 of 25 vouchers" in page
    again = admin.post("/vouchers/new", data=dict(data))
    assert again.headers["Location"] == first.headers["Location"]
    assert "no second batch" in page_text(admin.get(again.headers["Location"]))
    [batch] = batches_with(db, prefix)
    codes = [v.code for v in vouchers_of(db, batch.id)]
    assert len(set(codes)) == 25 and all(c.startswith(prefix) for c in codes)
    assert (batch.price, batch.note) == (PRICE, "pasar pagi")
    assert batch.actor.startswith("web:")


def test_ten_thousand_vouchers_are_generated_in_one_request_well_within_a_browser_timeout(
    admin, db
):
    package_id = make_package(db, PRICE)
    prefix = unique_prefix()
    data = generate_form(admin, package=str(package_id), count="10000", prefix=prefix)
    started = time.monotonic()
    response = admin.post("/vouchers/new", data=data)
    elapsed = time.monotonic() - started
    assert response.status_code == 302
    assert elapsed < 45, f"{elapsed:.1f}s"
    [batch] = batches_with(db, prefix)
    with db.transaction() as session:
        made = session.execute(
            select(func.count()).select_from(Voucher).where(Voucher.batch_id == batch.id)
        ).scalar_one()
    assert made == 10_000
    page = page_text(admin.get(response.headers["Location"]))
    assert "10000 of 10000 vouchers" in page
    assert page.count('<option value="') >= 63  # the sheet comes in parts of 160


def test_a_batch_of_more_than_ten_thousand_is_refused(admin, db):
    package_id = make_package(db, PRICE)
    response = admin.post(
        "/vouchers/new", data=generate_form(admin, package=str(package_id), count="10001")
    )
    assert response.status_code == 200 and "Number must be between 1 and 10000" in page_text(
        response
    )


def test_credit_vouchers_need_a_face_value(admin, db):
    response = admin.post("/vouchers/new", data=generate_form(admin, package="", count="3"))
    assert response.status_code == 200 and "needs a price" in page_text(response)


def test_the_sheet_prints_a_qr_login_per_unsold_voucher_on_a4_and_on_thermal_paper(admin, db):
    router_id = db.run(
        lambda s: (
            add_router(
                s,
                ring(),
                new_name("r"),
                "127.0.0.1",
                port=1,
                username="u",
                password="p",
                login_url="http://wifi.rt05.net/login",
            ).id
        )
    )
    package_id = make_package(
        db, PRICE, name=new_name("Harian"), router_ids=[router_id], limit_bytes_total=5 * 1024**3
    )
    batch_id = db.run(
        lambda s: generate_batch(s, count=4, package=package_id, prefix=unique_prefix()).id
    )
    sold = vouchers_of(db, batch_id)[0].code
    db.run(lambda s: mark_sold(s, [sold], actor="test"))
    a4 = admin.get(f"/vouchers/{batch_id}/sheet?layout=a4")
    page = page_text(a4)
    assert a4.mimetype == "text/html" and "size: A4" in page
    assert page.count("<svg") == 3 and sold not in page
    assert "RT 05 Net" in page and "IDR 5,000" in page and "5GB" in page
    assert "http://wifi.rt05.net/login" in page
    assert "style-src 'unsafe-inline'" in a4.headers["Content-Security-Policy"]
    assert "script-src" not in a4.headers["Content-Security-Policy"]
    thermal = page_text(admin.get(f"/vouchers/{batch_id}/sheet?layout=thermal-58&all=1"))
    assert "size: 58mm auto" in thermal and thermal.count("<svg") == 4 and sold in thermal
    assert admin.get(f"/vouchers/{batch_id}/sheet?layout=letter").status_code == 404


def test_a_big_batch_prints_in_parts(admin, db):
    package_id = make_package(db, PRICE)
    batch_id = db.run(
        lambda s: generate_batch(s, count=170, package=package_id, prefix=unique_prefix()).id
    )
    first = page_text(admin.get(f"/vouchers/{batch_id}/sheet?part=1"))
    second = page_text(admin.get(f"/vouchers/{batch_id}/sheet?part=2"))
    assert first.count("<svg") == 160 and second.count("<svg") == 10
    codes = [v.code for v in vouchers_of(db, batch_id)]
    assert codes[0] in first and codes[-1] in second and codes[-1] not in first


def test_vouchers_are_sold_and_voided_and_the_report_counts_them(admin, db):
    package_id = make_package(db, PRICE, name=new_name("Laporan"))
    batch_id = db.run(
        lambda s: generate_batch(s, count=5, package=package_id, prefix=unique_prefix()).id
    )
    codes = [v.code for v in vouchers_of(db, batch_id)]
    sold = admin.post(
        "/vouchers/sell",
        data={"codes": f"{codes[0]}\n{codes[1]}, {codes[0]}", "price": "4500", "batch": batch_id},
    )
    assert sold.headers["Location"] == f"/vouchers/{batch_id}"
    assert "2 vouchers recorded as sold" in page_text(admin.get(sold.headers["Location"]))
    voided = admin.post("/vouchers/void", data={"codes": codes[4], "batch": batch_id})
    assert "1 voucher voided" in page_text(admin.get(voided.headers["Location"]))
    statuses = [v.status for v in vouchers_of(db, batch_id)]
    assert statuses == ["sold", "sold", "new", "new", "void"]
    assert [v.sold_price for v in vouchers_of(db, batch_id)][:2] == [4_500 * RUPIAH] * 2
    unknown = page_text(
        admin.post("/vouchers/sell", data={"codes": "NO-SUCH-CODE", "batch": batch_id})
    )
    assert any("no voucher with this code" in e for e in field_errors(unknown, "codes"))
    assert "NO-SUCH-CODE</textarea>" in unknown  # as typed
    assert f'href="/vouchers/{batch_id}/export' in unknown  # the batch's own page
    report = page_text(admin.get("/vouchers/report"))
    row = report.split(f"<td>{package_name(db, package_id)}</td>", 1)[1].split("</tr>", 1)[0]
    assert re.findall(r'<td class="num">([^<]*)</td>', row) == [
        "5",
        "2",
        "IDR 9,000",
        "0",
        "0",
    ]
    export = admin.get("/vouchers/report?format=xlsx")
    sheet = load_workbook(BytesIO(export.data)).active
    assert sheet.cell(HEADER_ROW, 1).value == "Package"


def package_name(db, package_id: int) -> str:
    from wallet.hotspot_models import InternetPackage

    with db.transaction() as session:
        return session.get(InternetPackage, package_id).name


def test_the_batch_page_exports_the_codes_to_a_spreadsheet(admin, db):
    package_id = make_package(db, PRICE)
    batch_id = db.run(
        lambda s: generate_batch(s, count=3, package=package_id, prefix=unique_prefix()).id
    )
    export = admin.get(f"/vouchers/{batch_id}/export?format=csv")
    assert export.mimetype == "text/csv"
    lines = export.data.decode("utf-8-sig").strip().splitlines()
    assert len(lines) == 4 and lines[0].startswith("Code,Password,Status")


def test_a_voucher_is_redeemed_into_a_wallet_once(admin, db):
    batch_id = db.run(
        lambda s: generate_batch(s, count=1, price=20_000 * RUPIAH, prefix=unique_prefix()).id
    )
    [voucher] = vouchers_of(db, batch_id)
    account_id, _login = make_login(db, 1_000 * RUPIAH)
    data = {
        "key": form_key(page_text(admin.get("/vouchers/"))),
        "account": str(account_id),
        "code": voucher.code.lower(),
    }
    first = admin.post("/vouchers/redeem", data=dict(data))
    assert "IDR 20,000 credited" in page_text(admin.get(first.headers["Location"]))
    second = admin.post("/vouchers/redeem", data=dict(data))
    assert "credited once" in page_text(admin.get(second.headers["Location"]))
    assert balance_of(db, account_id) == 21_000 * RUPIAH
    other_account, _ = make_login(db)
    data["account"] = str(other_account)
    third = page_text(admin.post("/vouchers/redeem", data=data))
    (error,) = field_errors(third, "code")
    assert "redeemed already" in error
    assert field_errors(third, "account") == []
    assert balance_of(db, other_account) == 0


def test_a_sale_without_codes_is_refused_beside_the_codes_field(admin, db):
    batch_id = db.run(
        lambda s: generate_batch(s, count=1, price=20_000 * RUPIAH, prefix=unique_prefix()).id
    )
    response = admin.post("/vouchers/sell", data={"codes": "", "price": "4500", "batch": batch_id})
    assert response.status_code == 200
    page = page_text(response)
    assert field_errors(page, "codes") == ["Enter at least one voucher code."]
    assert re.search(r'name="price"[^>]* value="4500"', page)
    assert "flash-error" not in page


def test_a_redeem_without_an_account_is_refused_beside_the_account_field(admin, db):
    key = form_key(page_text(admin.get("/vouchers/")))
    response = admin.post("/vouchers/redeem", data={"key": key, "account": "", "code": "ab12"})
    assert response.status_code == 200
    page = page_text(response)
    assert field_errors(page, "account") == ["Enter an account number."]
    assert field_errors(page, "code") == []
    assert re.search(r'name="code"[^>]* value="ab12"', page)
    assert "flash-error" not in page
