"""Every page of the customer portal in Indonesian, in a real Chromium at a phone's size
(390 x 844), with a customer who has something on each page (history of every kind, a
call in progress, packages running and waiting, a conversation with a reply, top-up
requests in each state, an announcement): no page is wider than the phone, none shows
English where Indonesian is expected, and a screenshot of each is saved."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from messaging.actors import Actor
from messaging.announcements import post_announcement
from messaging.conversations import open_conversation, post_message
from portal import create_app as create_portal
from pulsa.settings import load_settings
from tests.databases import create_database, drop_database, selected_backends
from tests.e2e.test_portal_in_a_browser import _serve, phone, playwright_browser, shot
from wallet import ledger
from wallet.customer_access import issue_portal_link, set_password_with_link
from wallet.customers import create_customer
from wallet.db import Database
from wallet.internet import buy_package, create_login, create_package
from wallet.ledger import utcnow
from wallet.migrate import upgrade
from wallet.payments import reject_payment, request_top_up, save_bank_account
from wallet.staff import create_staff

__all__ = ["playwright_browser"]  # the browser fixture, shared with the other portal test

PASSWORD = "kebun kopi 2026 sore"
PHONE_NUMBER = "0813-5555-2468"
# English words that an Indonesian page must not show (labels, buttons, statuses).
ENGLISH = (
    "Balance",
    "Available",
    "History",
    "Top up",
    "Voucher code",
    "Password",
    "Sign out",
    "Waiting",
    "Confirmed",
    "Rejected",
    "Send",
    "Buy",
    "Help",
    "Profile",
    "Language",
    " left",
    " ago",
    "Ends ",
    "Starts ",
    "1 day",
    "1 month",
    " active",
)
# What read wrong before: "8 jam 0 mnt", "IDR -5.000" beside "+IDR 150.000".
CLUMSY = (" 0 mnt", "IDR -")


@pytest.fixture(scope="module")
def portal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict]]:
    folder = tmp_path_factory.mktemp("e2e-portal-id")
    url = create_database(selected_backends()[0], folder, "e2eid")
    upgrade(url)
    database = Database(url)
    now = utcnow()

    def seed(session):
        customer, account = create_customer(
            session, "Budi Santoso", currency="IDR", phone=PHONE_NUMBER
        )
        token, _ = issue_portal_link(session, customer.id, actor="e2e")
        set_password_with_link(session, token, PASSWORD)
        ledger.top_up(
            session,
            account.id,
            150_000_000_000,
            key="e2e-id:1",
            method="bank_transfer",
            reference="TRX 8812",
        )
        ledger.adjust(
            session, account.id, -2_500_000_000, key="e2e-id:2", reason="biaya ganda", actor="e2e"
        )
        login = create_login(session, customer.id, "budi", "kopi-budi-9")
        daily = create_package(
            session,
            "Harian 5M",
            price=5_000_000_000,
            validity_value=1,
            validity_unit="days",
            rate_limit="1M/5M",
            limit_bytes_total=5 * 1024**3,
            limit_uptime=8 * 3600,
            shared_users=2,
        )
        create_package(
            session,
            "Bulanan 20M",
            price=250_000_000_000,
            validity_value=1,
            validity_unit="months",
            rate_limit="5M/20M",
        )
        buy_package(session, login.id, daily.id, key="e2e-id:buy1", actor="e2e")
        buy_package(session, login.id, daily.id, key="e2e-id:buy2", actor="e2e")
        bank = save_bank_account(
            session,
            actor="e2e",
            bank_name="BCA",
            account_number="123-456-7890",
            holder_name="Warung Net Sejahtera",
            instructions="Tulis nomor HP Anda di berita transfer.",
        )
        request_top_up(
            session,
            account.id,
            50_000_000_000,
            actor="e2e",
            source="portal",
            bank_account_id=bank.id,
        )
        rejected, _ = request_top_up(
            session, account.id, 20_000_000_000, actor="e2e", source="portal"
        )
        reject_payment(session, rejected.id, "transfer tidak ditemukan", actor="web:boss")
        me = Actor.customer(customer.id, "portal")
        staff = create_staff(session, "admin", "e2e password long enough", actor="e2e")
        boss = Actor.staff(staff.id, staff.username)
        conversation = open_conversation(
            session,
            me,
            topic="internet",
            text="Internet lambat sejak pagi.",
            customer_id=customer.id,
        )
        post_message(
            session,
            boss,
            conversation.id,
            text="Kami sedang memeriksa router. Mohon ditunggu.",
        )
        post_announcement(
            session,
            boss,
            text="Pemeliharaan jaringan Sabtu pukul 01.00-03.00.",
            starts_at=now - timedelta(hours=1),
            ends_at=now + timedelta(days=2),
        )
        return {"conversation": conversation.id, "package": daily.id}

    ids = database.run(seed)
    settings = load_settings(
        {"PULSA_DATABASE_URL": url, "PULSA_TIMEZONE": "Asia/Jakarta", "PULSA_COUNTRY_CODE": "62"}
    )
    server, thread = _serve(create_portal(settings, database, upload_folder=folder / "up"))
    try:
        yield f"http://127.0.0.1:{server.effective_port}", ids
    finally:
        server.close()
        thread.join(10)
        database.dispose()
        drop_database(url)


def test_every_portal_page_reads_in_indonesian_and_fits_a_phone(portal, playwright_browser):
    base, ids = portal
    context = phone(playwright_browser, "id-ID")
    page = context.new_page()
    page.goto(base + "/sign-in")
    shot(page, "portal-id-sign-in")
    page.fill("#identifier", PHONE_NUMBER)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(base + "/home")
    pages = {
        "home": "/home",
        "history": "/history/",
        "calls": "/history/calls",
        "internet": "/internet/",
        "buy": f"/internet/buy/{ids['package']}",
        "voucher": "/voucher/",
        "top-up": "/top-up/",
        "help": "/help/",
        "conversation": f"/help/{ids['conversation']}",
        "profile": "/profile/",
        "not-found": "/help/999999",
    }
    problems = []
    for name, path in pages.items():
        page.goto(base + path)
        shot(page, f"portal-id-{name}")
        width = page.evaluate("document.documentElement.scrollWidth")
        if width > 390:
            problems.append(f"{path} is {width} px wide")
        text = page.locator("body").inner_text()
        problems += [f"{path} shows {word!r}" for word in ENGLISH + CLUMSY if word in text]
        if name == "profile" and page.locator("#locale").input_value() != "id":
            problems.append("the profile offers another language than the page's")
    assert page.locator("html").get_attribute("lang") == "id"
    context.close()
    for path in ("/sign-in", "/register/"):
        anonymous = phone(playwright_browser, "id-ID").new_page()
        anonymous.goto(base + path)
        shot(anonymous, "portal-id-" + path.strip("/").replace("/", "-"))
        text = anonymous.locator("body").inner_text()
        problems += [f"{path} shows {word!r}" for word in ENGLISH + CLUMSY if word in text]
        anonymous.context.close()
    assert problems == []
