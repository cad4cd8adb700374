"""Reports: revenue by day, month, method, customer type and destination prefix, on
screen, as CSV and Excel, and printable."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from openpyxl import load_workbook

from tests.conftest import make_account, unique_key
from tests.webadmin.calls_data import calling_account, place_call
from tests.webadmin.test_customers import customer_of, form_key
from wallet import ledger
from webadmin.exports import HEADER_ROW

RUPIAH = 1_000_000

APRIL = datetime(2026, 4, 7, 3, 0, tzinfo=UTC)  # 10:00 in Jakarta


def report(admin, name: str, **args) -> dict[str, list[str]]:
    query = "&".join(f"{k}={v}" for k, v in {"report": name, "format": "csv", **args}.items())
    body = admin.get(f"/reports/?{query}").get_data(as_text=True).lstrip("\ufeff")
    rows = list(csv.reader(io.StringIO(body)))
    return {row[0]: row[1:] for row in rows[1:]}


def today() -> str:
    # The test settings use UTC as the operator's time zone.
    return datetime.now(UTC).date().isoformat()


def top_up(admin, db, account_id: int, amount: str, method: str) -> None:
    url = f"/customers/{customer_of(db, account_id)}/top-up"
    admin.post(url, data={"key": form_key(admin, url), "amount": amount, "method": method})


def test_top_ups_show_in_revenue_by_day_and_by_method(db, admin):
    day = today()
    before_day = report(admin, "day", **{"from": day, "to": day}).get(day, ["0", "0"])
    before_method = report(admin, "method", **{"from": day, "to": day})
    account_id = make_account(db)
    top_up(admin, db, account_id, "10000", "cash")
    top_up(admin, db, account_id, "2.500", "e_wallet")  # thousands, as IDR is written
    after_day = report(admin, "day", **{"from": day, "to": day})[day]
    assert Decimal(after_day[0]) - Decimal(before_day[0]) == Decimal("12500")
    assert int(after_day[1]) - int(before_day[1]) == 2
    after_method = report(admin, "method", **{"from": day, "to": day})
    cash_before = Decimal(before_method.get("Cash", ["0", "0"])[1])
    assert Decimal(after_method["Cash"][1]) - cash_before == 10000
    assert "E-wallet" in after_method


def test_revenue_by_customer_type_separates_organizations(db, admin):
    day = today()
    before = report(admin, "kind", **{"from": day, "to": day}).get("Organization", ["0", "0"])
    account_id = make_account(db, kind="organization")
    top_up(admin, db, account_id, "7000", "bank_transfer")
    after = report(admin, "kind", **{"from": day, "to": day})["Organization"]
    assert Decimal(after[0]) - Decimal(before[0]) == 7000


def test_revenue_by_customer_type_counts_the_packages_bought(db, admin):
    day = today()
    before = report(admin, "kind", **{"from": day, "to": day}).get("Organization", ["0"] * 3)
    account_id = make_account(db, 20_000 * RUPIAH, kind="organization")
    db.run(
        lambda s: ledger.spend(
            s, account_id, 5_000 * RUPIAH, key=unique_key("package"), kind="package"
        )
    )
    after = report(admin, "kind", **{"from": day, "to": day})["Organization"]
    assert Decimal(after[2]) - Decimal(before[2]) == 5000  # packages and vouchers
    assert Decimal(after[0]) - Decimal(before[0]) == 20000  # the opening top-up


def test_calls_by_destination_prefix_count_minutes_and_revenue(db, admin):
    _, code = calling_account(db)
    place_call(db, code, "628111", APRIL, 60)
    place_call(db, code, "628999", APRIL + timedelta(minutes=2), 120)
    place_call(db, code, "4412", APRIL + timedelta(minutes=6), 5)
    rows = report(admin, "prefix", **{"from": "2026-04-07", "to": "2026-04-07"})
    assert rows["628"] == ["Mobile", "2", "3.0", "1800"]
    assert rows["*"] == ["Other", "1", "0.1", "3000"]


def test_revenue_by_month_counts_calls_in_their_month(db, admin):
    _, code = calling_account(db)
    before = report(admin, "month", **{"from": "2026-04-01", "to": "2026-04-30"})["2026-04"]
    place_call(db, code, "628111", APRIL, 60)
    after = report(admin, "month", **{"from": "2026-04-01", "to": "2026-04-30"})["2026-04"]
    assert int(after[4]) - int(before[4]) == 1  # calls
    assert Decimal(after[5]) - Decimal(before[5]) == 1  # talk minutes


def test_a_report_shows_a_chart_and_prints_and_exports_to_excel(db, admin):
    page = admin.get("/reports/?report=day").get_data(as_text=True)
    assert '<svg class="chart"' in page and "Revenue by day" in page
    assert "format=xlsx" in page and "print=1" in page
    response = admin.get("/reports/?report=method&format=xlsx")
    sheet = load_workbook(io.BytesIO(response.data)).active
    assert sheet.cell(row=HEADER_ROW, column=1).value == "Method"
    printable = admin.get("/reports/?report=prefix&print=1").get_data(as_text=True)
    assert '<body class=" printing' in printable or '<body class="printing' in printable


def test_the_excel_report_has_a_title_real_days_a_totals_row_and_fitting_columns(db, admin):
    account_id = make_account(db)
    top_up(admin, db, account_id, "1.250.000", "cash")
    day = today()
    response = admin.get(f"/reports/?report=day&from={day}&to={day}&format=xlsx")
    sheet = load_workbook(io.BytesIO(response.data)).active
    assert sheet.cell(1, 1).value == "Revenue by day"
    period = sheet.cell(2, 1).value
    assert "IDR" in period and str(datetime.now(UTC).year) in period
    assert sheet.cell(HEADER_ROW, 2).value == "Top-ups"
    first = sheet.cell(HEADER_ROW + 1, 1)
    assert first.is_date and first.value.date().isoformat() == day
    assert sheet.cell(HEADER_ROW + 1, 2).number_format == "#,##0"
    total = sheet.cell(HEADER_ROW + 2, 1)
    assert total.value == "Total"
    assert sheet.cell(HEADER_ROW + 2, 2).value == sheet.cell(HEADER_ROW + 1, 2).value >= 1250000
    widths = {c: sheet.column_dimensions[c].width for c in "ABC"}
    assert widths["B"] >= len("1,250,000") and widths["C"] >= len("Number of top-ups")


def test_a_month_is_written_as_a_month_on_screen_and_in_excel(db, admin):
    page = admin.get("/reports/?report=month&from=2026-04-01&to=2026-04-30").get_data(True)
    assert "Apr 2026" in page and "2026-04<" not in page
    response = admin.get("/reports/?report=month&from=2026-04-01&to=2026-04-30&format=xlsx")
    month = load_workbook(io.BytesIO(response.data)).active.cell(HEADER_ROW + 1, 1)
    assert month.is_date and month.number_format == "mmm yyyy"


def test_the_report_reads_in_indonesian_money_and_months(db, admin_id):
    page = admin_id.get("/reports/?report=month&from=2026-04-01&to=2026-12-31").get_data(True)
    assert "Des 2026" in page and "Rp0" in page
