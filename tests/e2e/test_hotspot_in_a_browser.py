"""An internet package bought for a customer in a real headless Chromium, with a double
click: the wallet is charged once. Screenshots under test-artifacts/screenshots/."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.conftest import make_account
from tests.e2e.conftest import LiveServer, shot
from wallet.hotspot_models import Subscription
from wallet.internet import create_login, create_package
from wallet.models import Account

UNIT = 1_000_000


def test_a_package_is_bought_for_a_customer_and_charged_once(
    signed_in_page: Page, live_server: LiveServer
):
    db = live_server.database
    db.run(
        lambda s: create_package(
            s,
            "Harian 5 GB",
            price=5_000 * UNIT,
            validity_value=1,
            validity_unit="days",
            limit_bytes_total=5 * 1024**3,
            rate_limit="1M/4M",
        )
    )
    account_id = make_account(db, 20_000 * UNIT, name="Bu Wati")
    customer_id = db.run(lambda s: s.get(Account, account_id).customer_id)
    login_id = db.run(lambda s: create_login(s, customer_id, "wati").id)

    page = signed_in_page
    page.click("nav >> text=Internet logins")
    page.fill("#q", "Wati")
    page.click("form.filters button[type=submit]")
    page.click("a >> text=wati")
    expect(page.locator("h1")).to_contain_text("wati")
    page.select_option("#package", label="Harian 5 GB · IDR 5,000")
    shot(page, "hotspot-01-buy-a-package")
    # A double click sends the form once (the page disables its button), and the form's
    # key would make a second send charge nothing anyway.
    page.dblclick("main form[action$='/buy'] button[type=submit]")
    expect(page.locator(".flash-success")).to_contain_text("New balance IDR 15,000.")
    # No router is registered: the package waits for one, its time not yet counting.
    expect(page.locator("tbody .badge.pending")).to_have_text("Waiting for the router")
    shot(page, "hotspot-02-package-bought")
    assert db.run(lambda s: s.get(Account, account_id).balance) == 15_000 * UNIT
    assert (
        db.run(lambda s: s.query(Subscription).filter(Subscription.login_id == login_id).count())
        == 1
    )
