"""The customer portal in a real Chromium at a phone's size (390 x 844), beside the admin on
the same database: staff give portal access, the customer sets a password from the link,
sees the balance in Indonesian, asks for a top-up with a receipt photo, staff confirm it in
the admin, the customer sees the new balance, buys a package and reads the history; and a
customer signs in with a hotspot user name and password, in English."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page, sync_playwright
from sqlalchemy import select
from waitress.server import create_server

from portal import create_app as create_portal
from pulsa.settings import load_settings
from tests.databases import create_database, drop_database, selected_backends
from tests.e2e.conftest import ADMIN, CHROMIUM, CHROMIUM_ARGS, PASSWORD, SCREENSHOTS
from wallet.customers import create_customer
from wallet.db import Database
from wallet.internet import create_login, create_package
from wallet.migrate import upgrade
from wallet.payments import PaymentRequest, save_bank_account
from wallet.staff import create_staff
from webadmin import create_app

PHONE = {"width": 390, "height": 844}
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
    b"\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00"
    b"\x00\x00IEND\xaeB`\x82"
)
CUSTOMER_PASSWORD = "sawah hijau 2026 pagi"


class Site:
    def __init__(self, admin: str, portal: str, database: Database, ids: dict) -> None:
        self.admin, self.portal, self.database, self.ids = admin, portal, database, ids


def _serve(app) -> tuple[object, threading.Thread]:
    server = create_server(app, host="127.0.0.1", port=0, threads=4)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    return server, thread


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    folder = tmp_path_factory.mktemp("e2e-portal")
    url = create_database(selected_backends()[0], folder, "e2ep")
    upgrade(url)
    database = Database(url)

    def seed(session):
        create_staff(session, ADMIN, PASSWORD, is_superuser=True, actor="e2e")
        customer, _ = create_customer(
            session, "Siti Aminah", currency="IDR", phone="0812-7777-1234"
        )
        create_login(session, customer.id, "siti", "wifi-siti-7")
        package = create_package(
            session,
            "Harian 5M",
            price=5_000_000_000,
            validity_value=1,
            validity_unit="days",
            rate_limit="1M/5M",
            limit_bytes_total=5 * 1024**3,
        )
        save_bank_account(
            session,
            actor="e2e",
            bank_name="BRI",
            account_number="0123-01-000111-30-1",
            holder_name="RT 05 Net",
            instructions="Write your phone number in the note.",
        )
        return {"customer": customer.id, "package": package.id}

    ids = database.run(seed)
    uploads = folder / "uploads"
    base = {"PULSA_DATABASE_URL": url, "PULSA_TIMEZONE": "Asia/Jakarta", "PULSA_COUNTRY_CODE": "62"}
    portal_server, portal_thread = _serve(
        create_portal(load_settings(base), database, upload_folder=uploads)
    )
    portal_url = f"http://127.0.0.1:{portal_server.effective_port}"
    admin_settings = load_settings({**base, "PULSA_PORTAL_URL": portal_url})
    admin_server, admin_thread = _serve(create_app(admin_settings, database, upload_folder=uploads))
    try:
        yield Site(f"http://127.0.0.1:{admin_server.effective_port}", portal_url, database, ids)
    finally:
        for server, thread in ((portal_server, portal_thread), (admin_server, admin_thread)):
            server.close()
            thread.join(10)
        database.dispose()
        drop_database(url)


@pytest.fixture(scope="module")
def playwright_browser() -> Iterator:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


def phone(browser, locale: str) -> BrowserContext:
    context = browser.new_context(viewport=PHONE, locale=locale, is_mobile=True, has_touch=True)
    context.set_default_timeout(15_000)
    return context


def shot(page: Page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def test_a_customer_gets_access_tops_up_and_buys_on_a_phone(site: Site, playwright_browser):
    staff = playwright_browser.new_context(viewport={"width": 1280, "height": 900})
    admin = staff.new_page()
    admin.goto(site.admin + "/sign-in")
    admin.fill("#username", ADMIN)
    admin.fill("#password", PASSWORD)
    admin.click("button[type=submit]")
    admin.wait_for_url(site.admin + "/")
    admin.goto(f"{site.admin}/customers/{site.ids['customer']}")
    admin.click("text=Portal access")
    link = admin.locator("[data-test=portal-link]").input_value()
    assert link.startswith(site.portal + "/welcome/")

    customer = phone(playwright_browser, "id-ID").new_page()
    customer.goto(link)
    assert "Selamat datang, Siti Aminah" in customer.content()
    customer.fill("#password", CUSTOMER_PASSWORD)
    customer.fill("#confirm", CUSTOMER_PASSWORD)
    customer.click("button[type=submit]")
    customer.wait_for_url(site.portal + "/home")
    assert customer.locator("[data-test=available]").inner_text() == "Rp0"
    shot(customer, "portal-01-home-id")

    customer.goto(site.portal + "/top-up/")
    customer.select_option("#bank", label="BRI 0123-01-000111-30-1")
    customer.fill("#amount", "20000")
    customer.set_input_files(
        "#proof", files=[{"name": "struk.png", "mimeType": "image/png", "buffer": PNG}]
    )
    shot(customer, "portal-02-top-up-id")
    customer.click("form[enctype] button[type=submit]")
    customer.wait_for_url(site.portal + "/top-up/")
    assert "menunggu" in customer.content()

    with site.database.transaction() as session:
        request_id = session.execute(select(PaymentRequest.id)).scalar_one()
    admin.goto(f"{site.admin}/payments/{request_id}")
    assert "portal" in admin.content()
    admin.click("text=Confirm and credit IDR 20,000")
    customer.goto(site.portal + "/home")
    assert customer.locator("[data-test=available]").inner_text() == "Rp20.000"

    customer.goto(site.portal + "/internet/")
    shot(customer, "portal-03-internet-id")
    customer.click(f"[data-test=offer-{site.ids['package']}] >> text=Beli")
    customer.click("text=Konfirmasi dan bayar Rp5.000")
    customer.wait_for_url(site.portal + "/internet/")
    assert "Harian 5M" in customer.locator("[data-test=login-siti]").inner_text()
    # No router is registered: the package waits, and says why, instead of counting.
    waiting = customer.locator("[data-test=login-siti] [data-test^=waiting-]")
    assert waiting.is_visible() and "Menunggu router: belum ada router" in waiting.inner_text()
    shot(customer, "portal-06-internet-waiting-id")
    customer.goto(site.portal + "/home")
    assert customer.locator("[data-test=available]").inner_text() == "Rp15.000"
    assert "Menunggu router" in customer.locator("[data-test=waiting]").inner_text()
    customer.goto(site.portal + "/history/")
    text = customer.content()
    assert "Paket internet Harian 5M" in text and re.search(r"Isi ulang, transfer bank", text)
    shot(customer, "portal-04-history-id")
    staff.close()


def test_a_customer_signs_in_with_the_hotspot_name_and_password_in_english(
    site, playwright_browser
):
    page = phone(playwright_browser, "en-US").new_page()
    page.goto(site.portal + "/")
    assert "/sign-in" in page.url
    shot(page, "portal-00-sign-in-en")
    page.fill("#identifier", "siti")
    page.fill("#password", "wifi-siti-7")
    page.click("button[type=submit]")
    page.wait_for_url(site.portal + "/home")
    assert "Hello, Siti Aminah" in page.content()
    page.click("label.menu-button")
    page.click("nav.menu >> text=Profile")
    assert "siti" in page.locator("main").inner_text()
    shot(page, "portal-05-profile-en")
