"""Tariffs screen: plans, bands, holidays, CSV import with preview and line-numbered
errors (all or nothing), export, and the calculator."""

from __future__ import annotations

import io
import re

from sqlalchemy import select

from tests.conftest import make_account
from tests.webadmin.conftest import field_errors, make_staff, signed_in, unique_name
from wallet.models import Account, RateRow, TariffPlan

UNIT = 1_000_000
GOOD = (
    "prefix,description,price_per_minute,initial_block,increment,band\n"
    "*,Other,3000,60,60,\n"
    "628,Mobile,1200,30,6,peak\n"
    "628,Mobile,600,30,6,\n"
)
BAD = (
    "prefix,description,price_per_minute,initial_block,increment,band\n"
    "*,Other,3000,60,60,\n"
    "62x,Broken,1200,30,6,\n"
    "628,Mobile,lots,30,6,\n"
)


def new_plan(admin, db) -> tuple[int, str]:
    name = unique_name("plan")
    response = admin.post("/tariffs/new", data={"name": name, "timezone": "Asia/Jakarta"})
    assert response.status_code == 302
    with db.transaction() as session:
        plan_id = session.execute(select(TariffPlan.id).where(TariffPlan.name == name)).scalar_one()
    admin.post(
        f"/tariffs/{plan_id}/bands",
        data={"name": "peak", "days": "mon-fri", "start": "08:00", "end": "18:00"},
    )
    return plan_id, name


def rates_of(db, plan_id: int) -> list[tuple[str, str, int]]:
    with db.transaction() as session:
        return sorted(
            session.execute(
                select(RateRow.prefix, RateRow.band, RateRow.price_per_minute).where(
                    RateRow.plan_id == plan_id
                )
            ).all()
        )


def test_a_csv_with_errors_lists_every_bad_line_and_imports_nothing(db, admin):
    plan_id, _ = new_plan(admin, db)
    page = admin.post(f"/tariffs/{plan_id}/import", data={"text": BAD, "mode": "replace"}).get_data(
        as_text=True
    )
    assert "Nothing was imported" in page
    assert "line 3: prefix must be digits only: &#39;62x&#39;" in page
    assert "line 4: price_per_minute: &#39;lots&#39; is not an amount" in page
    assert rates_of(db, plan_id) == []


def test_a_good_csv_is_previewed_first_and_imported_on_confirmation(db, admin):
    plan_id, name = new_plan(admin, db)
    upload = {"file": (io.BytesIO(GOOD.encode()), "rates.csv"), "text": "", "mode": "replace"}
    preview = admin.post(
        f"/tariffs/{plan_id}/import", data=upload, content_type="multipart/form-data"
    ).get_data(as_text=True)
    assert "Preview: 3 rates, no errors" in preview
    assert rates_of(db, plan_id) == []  # nothing yet
    text = re.search(r'<textarea name="text" hidden>(.*?)</textarea>', preview, re.S).group(1)
    done = admin.post(
        f"/tariffs/{plan_id}/import", data={"text": text, "mode": "replace", "confirm": "1"}
    )
    assert done.status_code == 302
    assert rates_of(db, plan_id) == [
        ("", "", 3000 * UNIT),
        ("628", "", 600 * UNIT),
        ("628", "peak", 1200 * UNIT),
    ]
    assert "3 rates imported." in admin.get(done.headers["Location"]).get_data(as_text=True)
    audit = admin.get(f"/audit/?action=tariff.import&target=plan+{name}").get_data(as_text=True)
    assert 'title="imported">Imported:</span> 3<' in audit


def test_a_rate_for_a_band_the_plan_lacks_is_refused(db, admin):
    plan_id, _ = new_plan(admin, db)
    text = "prefix,price_per_minute,band\n62,100,weekend\n"
    page = admin.post(
        f"/tariffs/{plan_id}/import", data={"text": text, "mode": "replace", "confirm": "1"}
    ).get_data(as_text=True)
    assert "has no band &#39;weekend&#39;" in page
    assert rates_of(db, plan_id) == []


def test_merge_keeps_the_other_rates(db, admin):
    plan_id, _ = new_plan(admin, db)
    admin.post(f"/tariffs/{plan_id}/import", data={"text": GOOD, "mode": "replace", "confirm": "1"})
    admin.post(
        f"/tariffs/{plan_id}/import",
        data={"text": "prefix,price_per_minute\n6221,150\n", "mode": "merge", "confirm": "1"},
    )
    assert [r[0] for r in rates_of(db, plan_id)] == ["", "6221", "628", "628"]


def test_the_export_gives_the_rates_back_with_formulas_neutralized(db, admin):
    plan_id, _ = new_plan(admin, db)
    text = 'prefix,description,price_per_minute\n62,=HYPERLINK("http://x"),100\n'
    admin.post(f"/tariffs/{plan_id}/import", data={"text": text, "mode": "replace", "confirm": "1"})
    response = admin.get(f"/tariffs/{plan_id}/export")
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    body = response.get_data(as_text=True)
    assert "'=HYPERLINK" in body and ",=HYPERLINK" not in body


def test_bands_and_holidays_are_added_to_a_plan(db, admin):
    plan_id, _ = new_plan(admin, db)
    admin.post(
        f"/tariffs/{plan_id}/holidays", data={"day": "2026-12-25", "band": "peak", "name": "Natal"}
    )
    page = admin.get(f"/tariffs/{plan_id}").get_data(as_text=True)
    assert "mon,tue,wed,thu,fri 08:00–18:00" in page
    assert "2026-12-25 Natal" in page
    bad = admin.post(
        f"/tariffs/{plan_id}/bands",
        data={"name": "x", "days": "someday", "start": "8", "end": "9"},
    )
    assert bad.status_code == 200
    assert field_errors(bad.get_data(as_text=True), "days")


def test_the_calculator_tells_the_rate_the_longest_call_and_the_price_of_three_minutes(db, admin):
    plan_id, _name = new_plan(admin, db)
    admin.post(f"/tariffs/{plan_id}/import", data={"text": GOOD, "mode": "replace", "confirm": "1"})
    account_id = make_account(db, 6_000 * UNIT)
    with db.transaction() as session:
        session.get(Account, account_id).tariff_plan_id = plan_id
    # Monday 2026-11-23 at 10:00 in Jakarta is peak: 1200 a minute, 30/6 billing.
    page = admin.get(
        f"/tariffs/calculator?account={account_id}&plan=&number=%2B62+812-3456&when=2026-11-23T10:00"
        "&duration=45"
    ).get_data(as_text=True)
    assert "<code>628</code> Mobile" in page and "peak" in page
    assert "IDR 3,600" in page  # 3 minutes at 1,200
    assert "IDR 960" in page  # 45 s charged as 48 s (30 + 3 x 6)
    assert "5 min 0 s" in page  # 6,000 / 1,200 a minute
    night = admin.get(
        f"/tariffs/calculator?plan={plan_id}&number=628123&when=2026-11-23T22:00"
    ).get_data(as_text=True)
    assert "IDR 1,800" in night  # off-peak 600 a minute


def test_the_calculator_says_when_no_rate_applies(db, admin):
    plan_id, _ = new_plan(admin, db)
    admin.post(
        f"/tariffs/{plan_id}/import",
        data={"text": "prefix,price_per_minute\n62,100\n", "mode": "replace", "confirm": "1"},
    )
    page = admin.get(f"/tariffs/calculator?plan={plan_id}&number=44123").get_data(as_text=True)
    assert "No rate" in page and "NORATE" in page


def test_a_role_that_only_views_tariffs_cannot_import(app, db, admin):
    plan_id, _ = new_plan(admin, db)
    viewer = signed_in(app, make_staff(db, grants={"tariffs": "view"}))
    assert viewer.get(f"/tariffs/{plan_id}").status_code == 200
    assert viewer.get(f"/tariffs/{plan_id}/import").status_code == 403
    response = viewer.post(
        f"/tariffs/{plan_id}/import", data={"text": GOOD, "mode": "replace", "confirm": "1"}
    )
    assert response.status_code == 403
    assert rates_of(db, plan_id) == []
