"""No text overflows its box or is cut off, on any screen of the admin and the main pages
of the portal, at a phone's width (390 px) and a laptop's (1366 px), in English and in
Indonesian, in a real Chromium.

The screens come from the admin's own `url_map` (a screen added later is checked without
touching this file, or the test says which ids it lacks); their ids come from data seeded
as the route walker seeds it, plus a customer with a long name and a large balance.

One browser, one tab per language: each page is loaded once and measured at both widths
(the viewport is resized, the page is not reloaded). What counts as a fault, per element
that is shown (not inside something that scrolls sideways on purpose, such as a table's
wrapper):

- its content is wider than its box (`scrollWidth > clientWidth`): text running out of
  it, or cut off when the box hides what overflows (`overflow: hidden`, `clip`,
  `text-overflow: ellipsis`);
- its content is taller than a box that hides what overflows;
- it reaches past the right edge of the page, so that the page scrolls sideways;
- it is an amount ("Rp1.234.567") broken over two lines.

The run takes about a minute on this machine (the figure is printed).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright
from sqlalchemy import select
from waitress.server import create_server
from werkzeug.routing import Rule

from hotspot.backoffice import staff_buy_package
from messaging.actors import Actor
from messaging.broadcasts import send_broadcast
from messaging.conversations import open_conversation
from messaging.models import Conversation
from portal import create_app as create_portal
from pulsa.settings import load_settings
from tests.databases import create_database, drop_database, selected_backends
from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS, SCREENSHOTS
from tests.webadmin import test_route_walker as walker
from tests.webadmin.calls_data import place_call
from wallet import ledger
from wallet.customer_access import issue_portal_link, set_password_with_link
from wallet.customers import add_identity, create_customer
from wallet.db import Database
from wallet.hotspot_models import HotspotLogin, InternetPackage, Router, Subscription, VoucherBatch
from wallet.internet import create_login
from wallet.migrate import upgrade
from wallet.models import SipIdentity, TariffPlan
from wallet.payments import BankAccount, PaymentRequest
from wallet.staff import Role, StaffUser, create_staff, save_role
from wallet.tariffs import ensure_plan
from webadmin import create_app

WIDTHS = (390, 1366)
LOCALES = ("en", "id")
PASSWORD = "overflow horse battery staple"
CUSTOMER_PASSWORD = "sawah hijau 2026 pagi"
LONG_NAME = "Koperasi Serba Usaha Warung Makan Ibu Sri Rejeki Lestari"
BIG_BALANCE = 1_234_567_890 * 1_000_000  # Rp1.234.567.890

#: Admin endpoints that are not screens a person reads, with the reason.
NOT_SCREENS = {
    "static": "files",
    "healthz": "a health check",
    "signin.sign_in": "shown only to who is signed out (checked on the portal's twin)",
    "payments.proof": "an image",
    "conversations.new_messages": "a fragment fetched by the page's script",
    "conversations.image": "an image",
    "tariffs.export_csv": "a download",
    "settings.logo": "an image",
    "vouchers.export": "a download",
    "vouchers.sheet": "a printed sheet of fixed-size cards (o-packages' voucher sheet)",
    "hotspot_pages.bundle": "a download",
    "portal.registered": "a redirect to the portal with a one-time token",
    "broadcast.progress": "JSON fetched by the page's script",
}
#: Screens that need a query argument to show.
QUERIES = {"conversations.create": "?customer={customer_id}"}
PORTAL_SIGNED_OUT = ("/sign-in", "/register/", "/register/help")
PORTAL_PAGES = (
    "/home",
    "/history/",
    "/history/calls",
    "/internet/",
    "/voucher/",
    "/top-up/",
    "/profile/",
    "/help/",
)

# The measurement, run in the page. `reason` says what is wrong; `text` what it holds.
MEASURE = """
() => {
  const faults = [];
  const page = document.documentElement.clientWidth;
  const scrolls = (value) => value === 'auto' || value === 'scroll';
  const hides = (value) => value === 'hidden' || value === 'clip';
  const skipped = new Set(['INPUT', 'SELECT', 'TEXTAREA', 'OPTION', 'SCRIPT', 'STYLE',
                           'BR', 'IMG', 'HTML', 'BODY', 'TITLE', 'META', 'LINK']);
  const inScroller = (el) => {
    for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
      if (scrolls(getComputedStyle(p).overflowX)) return true;
    }
    return false;
  };
  const describe = (el) => {
    let name = el.tagName.toLowerCase();
    if (el.id) name += '#' + el.id;
    if (el.classList.length) name += '.' + [...el.classList].join('.');
    return name;
  };
  for (const el of document.body.querySelectorAll('*')) {
    if (skipped.has(el.tagName) || el.closest('svg') && el.tagName !== 'svg') continue;
    const style = getComputedStyle(el);
    if (style.display === 'none' || style.visibility === 'hidden') continue;
    if (style.display === 'inline' || style.display === 'contents') continue;
    const box = el.getBoundingClientRect();
    if (box.width === 0 || box.height === 0) continue;
    if (style.position === 'absolute' && box.width <= 1) continue;  // screen-reader text
    const text = (el.innerText || '').trim().replace(/\\s+/g, ' ').slice(0, 60);
    const sideways = inScroller(el);
    if (!scrolls(style.overflowX) && el.scrollWidth > el.clientWidth + 1 && !sideways) {
      faults.push({element: describe(el), text,
                   reason: hides(style.overflowX) ? 'cut off (wider than its box)'
                                                  : 'wider than its box',
                   by: el.scrollWidth - el.clientWidth});
    }
    if (hides(style.overflowY) && el.scrollHeight > el.clientHeight + 1) {
      faults.push({element: describe(el), text, reason: 'cut off (taller than its box)',
                   by: el.scrollHeight - el.clientHeight});
    }
    if (!sideways && style.position !== 'fixed' && box.right > page + 1) {
      faults.push({element: describe(el), text, reason: 'past the edge of the page',
                   by: Math.round(box.right - page)});
    }
  }
  // An amount broken over two lines ("Rp1.234.56" / "2.890") is misread too.
  const amount = /^[-+]?(Rp|IDR |\\$|US\\$)[0-9.,]+$/;
  for (const el of document.body.querySelectorAll('*')) {
    if (el.children.length || !amount.test((el.textContent || '').trim())) continue;
    if (el.closest('svg')) continue;
    const range = document.createRange();
    range.selectNodeContents(el);
    const tops = new Set([...range.getClientRects()].map((r) => Math.round(r.top)));
    if (tops.size > 1) {
      faults.push({element: describe(el), text: el.textContent.trim(),
                   reason: 'an amount broken over lines', by: tops.size});
    }
  }
  return faults;
}
"""


class Servers:
    def __init__(self, admin: str, portal: str, ids: dict[str, int]) -> None:
        self.admin, self.portal, self.ids = admin, portal, ids


def _serve(app) -> tuple[object, threading.Thread]:
    server = create_server(app, host="127.0.0.1", port=0, threads=4)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    return server, thread


def _seed(database: Database, folder: Path) -> dict[str, int]:
    walker.seed(database, folder)
    place_call(database, _account_code(database), "6281234567890", datetime.now(UTC), 1680)

    def work(session) -> dict[str, int]:
        for locale in LOCALES:
            create_staff(session, f"owner-{locale}", PASSWORD, is_superuser=True, locale=locale)
        save_role(session, "Kasir", {"customers": "view", "payments": "change"}, actor="e2e")
        ensure_plan(session, "Kampung", "Asia/Jakarta")
        customer, account = create_customer(
            session, LONG_NAME, currency="IDR", phone="0812-9999-0001", kind="organization"
        )
        ledger.top_up(session, account.id, BIG_BALANCE, key="overflow-opening", method="cash")
        add_identity(session, account.id, "callerid", "6281299990001")
        token, _ = issue_portal_link(session, customer.id, actor="e2e")
        set_password_with_link(session, token, CUSTOMER_PASSWORD)
        login = create_login(session, customer.id, "koperasi-sri", "wifi-sri-7")
        package = session.execute(select(InternetPackage).order_by(InternetPackage.id)).scalar()
        staff_buy_package(
            session, login.id, package.id, key="overflow-buy", auto_renew=True, actor="e2e"
        )
        owner = session.execute(select(StaffUser).order_by(StaffUser.id)).scalars().first()
        broadcast, _made = send_broadcast(
            session,
            Actor.staff(owner.id, owner.username),
            form_key="overflow-broadcast",
            text="Jaringan internet akan dirawat Minggu pukul 01.00 sampai 03.00 WIB.",
        )
        open_conversation(
            session,
            Actor.customer(customer.id, "portal"),
            topic="billing",
            text="Saldo saya belum bertambah setelah transfer kemarin sore, mohon dicek.",
            customer_id=customer.id,
        )

        def first(model, *where) -> int:
            return session.execute(select(model.id).where(*where).order_by(model.id)).scalar()

        return {
            "customer_id": customer.id,
            "request_id": first(PaymentRequest),
            "conversation_id": first(Conversation),
            "bank_account_id": first(BankAccount),
            "plan_id": first(TariffPlan),
            "router_id": first(Router),
            "package_id": package.id,
            "login_id": first(HotspotLogin, HotspotLogin.status == "pending"),
            "subscription_id": first(Subscription),
            "batch_id": first(VoucherBatch),
            "staff_id": first(StaffUser),
            "role_id": first(Role),
            "subscriptions_login_id": login.id,
            "broadcast_id": broadcast.id,
        }

    return database.run(work)


def _account_code(database: Database) -> str:
    with database.transaction() as session:
        return session.execute(
            select(SipIdentity.value)
            .where(SipIdentity.kind == "accountcode")
            .order_by(SipIdentity.id)
        ).scalar()


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    folder = tmp_path_factory.mktemp("e2e-overflow")
    url = create_database(selected_backends()[0], folder, "e2eo")
    upgrade(url)
    database = Database(url)
    ids = _seed(database, folder)
    base = {
        "PULSA_DATABASE_URL": url,
        "PULSA_TIMEZONE": "Asia/Jakarta",
        "PULSA_COUNTRY_CODE": "62",
        "PULSA_ROUTER_KEY": walker.ROUTER_KEY,
        "PULSA_ROUTER_TIMEOUT_SECONDS": "1",
    }
    uploads = folder / "uploads"
    portal_server, portal_thread = _serve(
        create_portal(load_settings(base), database, upload_folder=uploads)
    )
    portal_url = f"http://127.0.0.1:{portal_server.effective_port}"
    admin_app = create_app(
        load_settings({**base, "PULSA_PORTAL_URL": portal_url}), database, upload_folder=uploads
    )
    admin_server, admin_thread = _serve(admin_app)
    servers = Servers(f"http://127.0.0.1:{admin_server.effective_port}", portal_url, ids)
    servers.admin_rules = list(admin_app.url_map.iter_rules())
    try:
        yield servers
    finally:
        for server, thread in ((portal_server, portal_thread), (admin_server, admin_thread)):
            server.close()
            thread.join(10)
        database.dispose()
        drop_database(url)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield chromium
        finally:
            chromium.close()


def admin_screens(rules: list[Rule], ids: dict[str, int]) -> tuple[list[str], list[str]]:
    """(the addresses of every admin screen, the endpoints whose ids are missing)."""
    addresses, missing = [], []
    for rule in rules:
        if "GET" not in rule.methods or rule.endpoint in NOT_SCREENS:
            continue
        values = {}
        for argument in rule.arguments:
            key = "subscriptions_login_id" if rule.endpoint == "subscriptions.detail" else argument
            if ids.get(key) is None:
                missing.append(f"{rule.endpoint} ({argument})")
                break
            values[argument] = ids[key]
        else:
            address = rule.build(values, append_unknown=False)[1]
            addresses.append(address + QUERIES.get(rule.endpoint, "").format(**ids))
    return sorted(addresses), missing


def _measure(page: Page, url: str, label: str) -> list[str]:
    response = page.goto(url)
    if response is None or response.status >= 400:
        return [f"{label} {url}: answered {response and response.status}"]
    faults = []
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        for fault in page.evaluate(MEASURE):
            faults.append(
                f"{label} {width}px {url}: {fault['element']} {fault['reason']} by "
                f"{fault['by']}px: {fault['text']!r}"
            )
        if any(f" {width}px " in line for line in faults):
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            name = url.split("://", 1)[1].split("/", 1)[1].replace("/", "_").strip("_") or "home"
            page.screenshot(path=str(SCREENSHOTS / f"overflow-{label}-{width}-{name}.png"))
    return faults


def _sign_in_admin(page: Page, servers: Servers, locale: str) -> None:
    page.goto(servers.admin + "/sign-in")
    page.fill("#username", f"owner-{locale}")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(servers.admin + "/")


def _sign_in_customer(page: Page, servers: Servers) -> None:
    page.goto(servers.portal + "/sign-in")
    page.fill("#identifier", "0812-9999-0001")
    page.fill("#password", CUSTOMER_PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url(servers.portal + "/home")


def test_every_admin_screen_has_its_ids(servers: Servers):
    _addresses, missing = admin_screens(servers.admin_rules, servers.ids)
    assert missing == [], "seed something behind these ids, or list them in NOT_SCREENS"


def test_no_text_overflows_on_any_screen_at_a_phones_width_and_a_laptops(
    servers: Servers, browser: Browser
):
    started = time.monotonic()
    addresses, _missing = admin_screens(servers.admin_rules, servers.ids)
    faults: list[str] = []
    pages = 0
    for locale in LOCALES:
        context = browser.new_context(locale=locale, viewport={"width": WIDTHS[0], "height": 900})
        context.set_default_timeout(15_000)
        try:
            page = context.new_page()
            page.on("dialog", lambda dialog: dialog.dismiss())
            for path in PORTAL_SIGNED_OUT:
                faults += _measure(page, servers.portal + path, f"portal/{locale}")
                pages += 1
            _sign_in_customer(page, servers)
            for path in PORTAL_PAGES:
                faults += _measure(page, servers.portal + path, f"portal/{locale}")
                pages += 1
            _sign_in_admin(page, servers, locale)
            for path in addresses:
                faults += _measure(page, servers.admin + path, f"admin/{locale}")
                pages += 1
        finally:
            context.close()
    took = time.monotonic() - started
    print(f"\n{pages} pages at {len(WIDTHS)} widths in {took:.1f} s")
    assert not faults, f"{len(faults)} overflows:\n" + "\n".join(faults)
