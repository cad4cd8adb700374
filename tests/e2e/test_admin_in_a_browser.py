"""The admin in a real headless Chromium: sign in, create a customer, top up, confirm a
payment, import a tariff CSV with an error and then without, find a call and export the
CDRs. Each step leaves a screenshot under test-artifacts/screenshots/."""

from __future__ import annotations

from datetime import UTC, datetime

from openpyxl import load_workbook
from playwright.sync_api import Page, expect

from tests.e2e.conftest import LiveServer, shot
from tests.webadmin.calls_data import calling_account, place_call
from tests.webadmin.test_payments import PNG
from wallet.payments import create_payment_request, store_proof
from webadmin.exports import HEADER_ROW

UNIT = 1_000_000
HEADER = "prefix,description,price_per_minute,initial_block,increment\n"
BAD_CSV = HEADER + "62,Indonesia,300,60,60\n62x,Typo,100,1,1\n"
GOOD_CSV = HEADER + "*,Other,3000,60,60\n62,Indonesia,300,60,60\n628,Mobile,1200,30,6\n"


def test_signing_in_shows_the_dashboard_with_its_charts(signed_in_page: Page):
    page = signed_in_page
    expect(page.locator("h1")).to_have_text("Dashboard")
    expect(page.locator("svg.chart")).to_have_count(3)
    shot(page, "02-dashboard")


def test_a_customer_is_created_and_topped_up(signed_in_page: Page, live_server: LiveServer):
    page = signed_in_page
    page.click("nav >> text=Customers")
    page.click("text=New customer")
    page.fill("#name", "Warung Bu Tini")
    page.fill("#phone", "0812 1111 2222")
    page.fill("#callerid", "6281211112222")
    page.click("main button[type=submit]")
    expect(page.locator("h1")).to_contain_text("Warung Bu Tini")
    page.click("a.button >> text=Top up")
    page.fill("#amount", "50000")
    page.select_option("#method", "cash")
    page.fill("#reference", "receipt 17")
    shot(page, "03-top-up-form")
    page.click("main form button[type=submit]")
    expect(page.locator(".flash-success")).to_contain_text("New balance IDR 50,000")
    expect(page.locator("dl.facts strong").first).to_have_text("IDR 50,000")
    shot(page, "04-customer")


def test_a_payment_request_with_its_proof_is_confirmed_once(
    signed_in_page: Page, live_server: LiveServer
):
    account_id, _ = calling_account(live_server.database, name="Ibu Rina")
    proof = store_proof(live_server.upload_folder, PNG)
    request_id = live_server.database.run(
        lambda s: (
            create_payment_request(
                s, account_id, 25_000 * UNIT, reference="BCA 0099", proof_path=proof
            ).id
        )
    )
    page = signed_in_page
    page.click("nav >> text=Payments")
    page.click(f"a[href='/payments/{request_id}']")
    expect(page.locator("img.proof")).to_be_visible()
    shot(page, "05-payment-request")
    page.click("text=Confirm and credit")
    expect(page.locator(".flash-success")).to_contain_text("IDR 25,000 credited")
    expect(page.locator("h1 .badge")).to_have_text("Confirmed")
    page.goto(f"{live_server.url}/customers/?q={account_id}")
    expect(page.locator("tbody tr").first).to_contain_text("IDR 125,000")  # 100,000 + 25,000


def test_a_tariff_csv_with_an_error_is_refused_then_a_good_one_is_imported(
    signed_in_page: Page, live_server: LiveServer
):
    page = signed_in_page
    page.click("nav >> text=Tariffs")
    page.fill("#name", "Kampung")
    page.fill("#timezone", "Asia/Jakarta")
    page.click("text=Create")
    page.click("text=Import CSV")
    page.fill("#text", BAD_CSV)
    page.click("text=Check and preview")
    expect(page.locator(".errors-list")).to_contain_text("line 3: prefix must be digits only")
    shot(page, "06-tariff-import-error")
    page.fill("#text", GOOD_CSV)
    page.click("text=Check and preview")
    expect(page.locator("h2")).to_contain_text("Preview: 3 rates, no errors")
    shot(page, "07-tariff-import-preview")
    page.click("text=Import 3 rates")
    expect(page.locator(".flash-success")).to_contain_text("3 rates imported.")
    expect(page.locator("table code")).to_have_count(3)


def test_a_call_is_found_and_the_cdrs_are_exported(
    signed_in_page: Page, live_server: LiveServer, tmp_path
):
    _, code = calling_account(live_server.database, name="Pak Joko")
    place_call(live_server.database, code, "628555", datetime(2026, 5, 4, 3, 0, tzinfo=UTC), 95)
    page = signed_in_page
    page.click("nav >> text=Calls")
    page.fill("#customer", "Joko")
    page.fill("#destination", "628")
    page.click("form.filters button[type=submit]")
    expect(page.locator("tbody tr").first).to_contain_text("628555")
    expect(page.locator("tr.total")).to_contain_text("Total: 1 call")
    shot(page, "08-calls")
    with page.expect_download() as csv_download:
        page.click("a.button >> text=CSV")
    csv_file = tmp_path / "calls.csv"
    csv_download.value.save_as(csv_file)
    lines = csv_file.read_text(encoding="utf-8-sig").splitlines()
    assert len(lines) == 2 and "Pak Joko" in lines[1] and "628555" in lines[1]
    with page.expect_download() as xlsx_download:
        page.click("a.button >> text=Excel")
    xlsx_file = tmp_path / "calls.xlsx"
    xlsx_download.value.save_as(xlsx_file)
    sheet = load_workbook(xlsx_file).active
    assert sheet.cell(row=HEADER_ROW + 1, column=2).value == "Pak Joko"


def test_the_dashboard_shows_the_day_s_money(signed_in_page: Page, live_server: LiveServer):
    page = signed_in_page
    page.goto(live_server.url + "/")
    expect(page.locator(".tile").nth(1)).to_contain_text(
        "IDR 275,000"
    )  # 50,000 + 2 x 100,000 + 25,000
    shot(page, "10-dashboard-with-data")


def test_the_admin_fits_a_phone_screen(signed_in_page: Page, live_server: LiveServer):
    page = signed_in_page
    page.set_viewport_size({"width": 390, "height": 844})
    try:
        page.goto(live_server.url + "/")
        expect(page.locator("nav.nav")).to_be_hidden()
        page.click("label.nav-button")
        expect(page.locator("nav.nav")).to_be_visible()
        shot(page, "09-phone-menu", full_page=False)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390
    finally:
        page.set_viewport_size({"width": 1280, "height": 900})
