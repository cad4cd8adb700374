"""The first-run setup in a real Chromium, in Indonesian, as a new operator meets it: the
banner on the first page, the form sent empty (every mistake beside its field), then
Indonesia, no AMI listener, a bank account and a logo; the banner gone, the name and logo
in the top bar, and the calculator rating 0812... as 62812... in the plan's new zone
(it was made in UTC before the setup). Screenshots
setup-01..04-id in test-artifacts/screenshots (docs/screenshots/setup-id.png is 02)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, sync_playwright
from sqlalchemy import select
from waitress.server import create_server

from pulsa.settings import load_settings
from tests.databases import create_database, drop_database, selected_backends
from tests.e2e.conftest import ADMIN, CHROMIUM, CHROMIUM_ARGS, PASSWORD, SCREENSHOTS
from wallet.db import Database
from wallet.migrate import upgrade
from wallet.payments import BankAccount
from wallet.site_settings import load_site_config
from wallet.staff import create_staff
from wallet.tariffs import ensure_plan, import_rates
from webadmin import create_app

PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
    b"\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00"
    b"\x00\x00IEND\xaeB`\x82"
)


class Site:
    def __init__(self, url: str, database: Database, settings, folder: Path) -> None:
        self.url, self.database, self.settings, self.folder = url, database, settings, folder


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """A new site as `make run` leaves it, minus the demo: nothing in the environment
    (no country code, UTC, no AMI servers), a super admin who reads Indonesian, and the
    operator's tariff with international prefixes, in a plan made in UTC."""
    folder = tmp_path_factory.mktemp("e2e-setup")
    url = create_database(selected_backends()[0], folder, "e2es")
    upgrade(url)
    database = Database(url)

    def seed(session):
        create_staff(session, ADMIN, PASSWORD, is_superuser=True, locale="id", actor="e2e")
        ensure_plan(session, "default", "UTC")  # as `pulsa demo` makes it before the setup
        import_rates(
            session,
            "default",
            "prefix,description,price_per_minute\n62812,Telkomsel,1200\n*,Lainnya,3000\n",
        )

    database.run(seed)
    settings = load_settings({"PULSA_DATABASE_URL": url})
    app = create_app(settings, database, upload_folder=folder / "uploads")
    server = create_server(app, host="127.0.0.1", port=0, threads=4)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        yield Site(f"http://127.0.0.1:{server.effective_port}", database, settings, folder)
    finally:
        server.close()
        thread.join(10)
        database.dispose()
        drop_database(url)


def shot(page: Page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def test_a_new_operator_sets_pulsa_up_in_indonesian(site: Site):
    logo = site.folder / "logo.png"
    logo.write_bytes(PNG)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="id")
            context.set_default_timeout(15_000)
            page = context.new_page()
            page.goto(site.url + "/sign-in")
            page.fill("#username", ADMIN)
            page.fill("#password", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url(site.url + "/")

            banner = page.locator(".setup-banner")
            assert "pulsa belum disiapkan" in banner.inner_text()
            assert page.locator("html").get_attribute("lang") == "id"
            shot(page, "setup-01-banner-id")

            banner.get_by_role("link", name="Buka penyiapan").click()
            page.wait_for_url(site.url + "/setup/")
            assert page.locator("h1").inner_text() == "Penyiapan awal"
            # Nothing chosen yet: the listener question answers No (no AMI servers here).
            assert page.locator("input[name=listener][value=no]").is_checked()
            assert page.locator("#move_plans").is_checked()
            assert "default (UTC)" in page.locator("main").inner_text()
            shot(page, "setup-02-form-id")

            page.fill("#operator_name", "")
            page.fill("#bank_name_1", "BRI")
            page.get_by_role("button", name="Simpan dan selesaikan penyiapan").click()
            errors = page.locator("small.error").all_inner_texts()
            assert "Pilih negara, atau Negara lain." in errors
            assert "Isi bank, nomor rekening dan atas nama." in errors
            shot(page, "setup-03-errors-id")

            page.fill("#operator_name", "RT 05 Net")
            page.set_input_files("#logo", str(logo))
            page.get_by_label("Indonesia (WIB, Jakarta)").check()
            page.locator("input[name=listener][value=no]").check()
            page.fill("#account_number_1", "0123-01-000111-30-1")
            page.fill("#holder_name_1", "Koperasi RT 05")
            page.get_by_role("button", name="Simpan dan selesaikan penyiapan").click()
            page.wait_for_url(site.url + "/")
            assert "Penyiapan disimpan" in page.locator(".flash-success").inner_text()
            assert page.locator(".setup-banner").count() == 0
            assert "RT 05 Net" in page.locator(".brand").inner_text()
            assert page.locator(".brand img.logo").count() == 1
            shot(page, "setup-04-done-id")

            page.goto(site.url + "/tariffs/calculator?number=0812-3456-789&plan=1")
            result = page.locator("main").inner_text()
            assert "628123456789" in result and "Telkomsel" in result
            assert "(Asia/Jakarta)" in result  # the plan moved to the site's zone
        finally:
            browser.close()

    with site.database.transaction() as session:
        config = load_site_config(session, site.settings)
        banks = session.execute(select(BankAccount.account_number)).scalars().all()
    assert (config.country_code, config.currency, config.timezone, config.language) == (
        "62",
        "IDR",
        "Asia/Jakarta",
        "id",
    )
    assert (config.call_mode, config.setup, config.operator_name) == ("static", "done", "RT 05 Net")
    assert config.logo_path and banks == ["0123-01-000111-30-1"]
