"""The voucher sheet carries the operator's name and logo, in the reader's language with
money in its locale, prints on A4 with cut lines, and still prints without a logo;
speeds are shown the same way on the package list and the sheet ("1.5 Mbps" is
"1,5 Mbps" in Indonesian), whatever way they were typed."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest
from sqlalchemy import delete, select

from tests.hotspot.builders import unique_prefix
from tests.webadmin.conftest import make_staff, signed_in
from tests.webadmin.hotspot_data import (
    RUPIAH,
    hotspot_settings,
    make_package,
    new_name,
    page_text,
)
from tests.webadmin.test_payments import PNG
from wallet.hotspot_models import InternetPackage
from wallet.site_settings import SiteSetting, save_site_config
from wallet.vouchers import generate_batch

PRICE = 85_000 * RUPIAH


@pytest.fixture
def settings(db):
    return hotspot_settings(db)


@pytest.fixture
def operator(app, db, settings):
    """The operator's name and logo as Settings stores them (the logo under uploads)."""
    folder = Path(app.config["UPLOAD_FOLDER"])
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "logo.png").write_bytes(PNG)
    values = {"operator_name": "RW 07 Net", "logo_path": "logo.png"}
    db.run(lambda s: save_site_config(s, settings, values, actor="test"))
    yield
    db.run(
        lambda s: s.execute(
            delete(SiteSetting).where(SiteSetting.key.in_(["operator_name", "logo_path"]))
        )
    )


def in_indonesian(app, db):
    return signed_in(app, make_staff(db, superuser=True, locale="id"))


def a_batch(db, **package_options) -> int:
    package_id = make_package(
        db,
        PRICE,
        name=new_name("Mingguan"),
        validity_value=7,
        limit_bytes_total=5 * 1024**3,
        rate_limit="1500k/5M",
        **package_options,
    )
    return db.run(
        lambda s: generate_batch(s, count=2, package=package_id, prefix=unique_prefix()).id
    )


def test_the_sheet_in_indonesian_carries_the_operators_name_and_logo(app, db, operator):
    batch_id = a_batch(db)

    sheet = page_text(in_indonesian(app, db).get(f"/vouchers/{batch_id}/sheet?layout=a4"))

    assert '<html lang="id">' in sheet and "RW 07 Net" in sheet
    assert f'<img src="data:image/png;base64,{base64.b64encode(PNG).decode()}"' in sheet
    # The price as webadmin.ui.money writes it for this reader (Rp85.000 in Indonesian
    # once money follows the locale).
    assert re.search(r'class="price">(Rp ?|IDR )85[.,]000<', sheet)
    assert "7 hari" in sheet and "unduh 5 Mbps, unggah 1,5 Mbps" in sheet
    assert "kode voucher" in sheet and "Gunting di sepanjang garis putus-putus." in sheet
    assert "voucher code" not in sheet and "scan, or open" not in sheet
    assert "size: A4" in sheet and "dashed" in sheet


def test_the_sheet_prints_without_a_logo_in_english(admin, db):
    batch_id = a_batch(db)
    sheet = page_text(admin.get(f"/vouchers/{batch_id}/sheet?layout=a4"))
    assert sheet.count("<svg") == 2 and "<img" not in sheet
    assert "5 Mbps down, 1.5 Mbps up" in sheet and "7 days" in sheet
    assert "Cut along the dashed lines." in sheet


def test_the_package_list_shows_speeds_as_people_write_them_in_both_languages(app, admin, db):
    package_id = make_package(db, PRICE, name=new_name("Cepat"), rate_limit="1500k/5M")
    english = page_text(admin.get("/packages/"))
    indonesian = page_text(in_indonesian(app, db).get("/packages/"))
    assert f'data-test="speed-{package_id}">5 Mbps down, 1.5 Mbps up' in english
    assert f'data-test="speed-{package_id}">unduh 5 Mbps, unggah 1,5 Mbps' in indonesian


@pytest.mark.parametrize("typed", ["5 Mbps", "5M", "5m", "5000 kbps", "5 Mbit/s"])
def test_a_speed_typed_any_usual_way_is_stored_as_routeros_reads_it(admin, db, typed):
    name = new_name("Ketik")
    response = admin.post(
        "/packages/new",
        data={
            "name": name,
            "price": "5000",
            "validity_value": "1",
            "validity_unit": "days",
            "upload": "512 kbps",
            "download": typed,
            "shared_users": "1",
        },
    )
    assert response.status_code == 302, page_text(response)
    assert "512 kbps up" in page_text(admin.get("/packages/"))
    with db.transaction() as session:
        stored = session.execute(
            select(InternetPackage.rate_limit).where(InternetPackage.name == name)
        ).scalar_one()
    assert stored == "512k/5M"


def test_a_logo_that_is_not_an_image_is_left_out_and_the_sheet_still_prints():
    from hotspot.voucher_sheet import SheetInfo, VoucherCard, logo_data_uri, render_sheet

    assert logo_data_uri(b"<svg onload=alert(1)>") == "" and logo_data_uri(None) == ""
    info = SheetInfo("RW 07", "Harian", "Rp5.000", "1 hari", "http://10.5.50.1/login", logo="")
    page = render_sheet([VoucherCard("ABC123", "ABC123", True)], info)
    assert "<img" not in page and page.count("<svg") == 1
