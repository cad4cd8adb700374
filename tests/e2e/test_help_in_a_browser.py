"""Help and complaints in a real headless Chromium, the customer on a phone-sized portal
page in Indonesian and the staff in the admin: the customer opens a complaint with a
photo, the staff member replies in the admin, and the reply appears on the customer's
page without a reload (portal.js polling). Screenshots under test-artifacts/screenshots/."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from playwright.sync_api import BrowserContext, Page, expect
from waitress.server import create_server

from portal import create_app as create_portal
from pulsa.settings import load_settings
from tests.e2e.conftest import LiveServer, shot
from tests.webadmin.test_payments import PNG
from wallet.customer_access import issue_portal_link, set_password_with_link
from wallet.customers import create_customer

PHONE, PASSWORD = "081255501234", "sawah hijau 58 merpati"


@pytest.fixture(scope="module")
def portal_url(live_server: LiveServer) -> Iterator[str]:
    """The portal on the admin's database, beside it on loopback."""
    settings = load_settings(
        {
            "PULSA_DATABASE_URL": live_server.database.url,
            "PULSA_TIMEZONE": "Asia/Jakarta",
            "PULSA_COUNTRY_CODE": "62",
        }
    )
    app = create_portal(settings, live_server.database, upload_folder=live_server.upload_folder)
    server = create_server(app, host="127.0.0.1", port=0, threads=4)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.effective_port}"
    finally:
        server.close()
        thread.join(10)


@pytest.fixture(scope="module")
def customer_page(live_server: LiveServer, portal_url: str, browser_context: BrowserContext):
    def work(session):
        customer, _ = create_customer(session, "Ibu Wati", currency="IDR", phone=PHONE)
        token, _ = issue_portal_link(session, customer.id, actor="e2e")
        set_password_with_link(session, token, PASSWORD)

    live_server.database.run(work)
    page = browser_context.new_page()
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(portal_url + "/sign-in")
    page.click("footer >> text=Bahasa Indonesia")
    page.fill("#identifier", PHONE)
    page.fill("#password", PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url("**/home")
    yield page
    page.close()


def test_a_complaint_is_answered_in_the_admin_and_the_reply_appears_on_the_phone(
    customer_page: Page, signed_in_page: Page, live_server: LiveServer, portal_url, tmp_path
):
    phone = customer_page
    phone.goto(portal_url + "/help/")
    expect(phone.locator("h1")).to_have_text("Bantuan dan keluhan")
    phone.select_option("#topic", "internet")
    phone.fill("#text", "Wifi tidak bisa konek sejak tadi malam")
    photo = tmp_path / "layar.png"
    photo.write_bytes(PNG)
    phone.set_input_files("#image", str(photo))
    shot(phone, "40-portal-help-new")
    phone.click("main button[type=submit]")
    expect(phone.locator(".messages")).to_contain_text("Wifi tidak bisa konek")
    expect(phone.locator(".messages img.photo")).to_have_count(1)
    conversation_url = phone.url

    admin = signed_in_page
    admin.goto(live_server.url + "/conversations/")
    admin.click("td >> text=Ibu Wati")
    expect(admin.locator(".messages")).to_contain_text("Wifi tidak bisa konek")
    admin.fill("#text", "Sudah kami reset, silakan coba lagi")
    admin.click("text=Send reply")
    expect(admin.locator(".flash-success")).to_be_visible()

    expect(phone.locator(".messages")).to_contain_text(
        "Sudah kami reset, silakan coba lagi", timeout=15_000
    )
    assert phone.url == conversation_url  # the same page, not reloaded by navigation
    expect(phone.locator("h1 .status")).to_have_text("Sudah dijawab")
    shot(phone, "41-portal-help-conversation")
