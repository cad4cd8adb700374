"""A live pulsa web admin on loopback and a real headless Chromium driving it.

The server is waitress in a thread on an ephemeral port, on a freshly migrated database
(the first backend of PULSA_TEST_DATABASES). The browser is Debian's Chromium, driven by
Playwright with a fresh profile; nothing is downloaded. Screenshots of the main screens go
to test-artifacts/screenshots/ at the repository root.
"""

from __future__ import annotations

import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page, sync_playwright
from waitress.server import create_server

from pulsa.settings import load_settings
from tests.databases import create_database, drop_database, selected_backends
from wallet.db import Database
from wallet.migrate import upgrade
from wallet.staff import create_staff
from webadmin import create_app

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "test-artifacts" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ADMIN, PASSWORD = "owner", "e2e password long enough"


class LiveServer:
    def __init__(self, url: str, database: Database, upload_folder: Path) -> None:
        self.url = url
        self.database = database
        self.upload_folder = upload_folder


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    # Module scope, like the browser: Playwright's event loop must be gone before other
    # tests (the AMI ones) run their own asyncio loops in this process.
    folder = tmp_path_factory.mktemp("e2e")
    url = create_database(selected_backends()[0], folder, "e2e")
    upgrade(url)
    database = Database(url)
    database.run(lambda s: create_staff(s, ADMIN, PASSWORD, is_superuser=True, actor="e2e"))
    settings = load_settings({"PULSA_DATABASE_URL": url, "PULSA_TIMEZONE": "Asia/Jakarta"})
    app = create_app(settings, database, upload_folder=folder / "uploads")
    server = create_server(app, host="127.0.0.1", port=0, threads=4)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        yield LiveServer(f"http://127.0.0.1:{server.effective_port}", database, folder / "uploads")
    finally:
        server.close()
        thread.join(10)
        database.dispose()
        drop_database(url)


@pytest.fixture(scope="module")
def browser_context() -> Iterator[BrowserContext]:
    with sync_playwright() as playwright:
        profile = tempfile.mkdtemp(prefix="pulsa-e2e-profile-")
        context = playwright.chromium.launch_persistent_context(
            profile,
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 900},
            accept_downloads=True,
        )
        context.set_default_timeout(15_000)
        try:
            yield context
        finally:
            context.close()


@pytest.fixture(scope="module")
def signed_in_page(live_server: LiveServer, browser_context: BrowserContext) -> Page:
    """One browser tab, signed in as the super admin, shared by the scenario's tests."""
    page = browser_context.new_page()
    page.on("dialog", lambda dialog: dialog.accept())  # data-confirm questions
    page.goto(live_server.url + "/")
    assert "/sign-in" in page.url
    shot(page, "01-sign-in")
    page.fill("#username", ADMIN)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(live_server.url + "/")
    return page


def shot(page: Page, name: str, *, full_page: bool = True) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path
