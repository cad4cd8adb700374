"""Conversations in a real headless Chromium: the unread count on the menu, a customer's
new message appearing on the open page without a reload (admin.js polling), a reply with
a photo. Screenshots under test-artifacts/screenshots/."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from messaging.actors import Actor
from messaging.conversations import open_conversation, post_message
from tests.e2e.conftest import LiveServer, shot
from tests.messaging.builders import make_customer
from tests.webadmin.test_payments import PNG


def test_a_customers_new_message_appears_without_reloading_and_staff_reply_with_a_photo(
    signed_in_page: Page, live_server: LiveServer, tmp_path
):
    db = live_server.database
    customer = Actor.customer(make_customer(db, "Pak Joko"))
    conversation_id = db.run(
        lambda s: (
            open_conversation(s, customer, topic="internet", text="Internet mati sejak pagi").id
        )
    )
    page = signed_in_page
    page.goto(live_server.url + "/")
    expect(page.locator('[data-nav-badge="conversations"]')).to_have_text("1")
    page.click("nav >> text=Conversations")
    page.click("td >> text=Pak Joko")
    expect(page.locator(".messages")).to_contain_text("Internet mati sejak pagi")
    url = page.url
    db.run(lambda s: post_message(s, customer, conversation_id, text="Lampu LOS merah"))
    expect(page.locator(".messages")).to_contain_text("Lampu LOS merah", timeout=15_000)
    assert page.url == url  # appeared on the same page, not by navigating
    photo = tmp_path / "router.png"
    photo.write_bytes(PNG)
    page.fill("#text", "Teknisi kami datang jam 2 siang")
    page.set_input_files("#image", str(photo))
    page.click("text=Send reply")
    expect(page.locator(".flash-success")).to_contain_text("Reply sent.")
    expect(page.locator(".messages img.proof")).to_have_count(1)
    expect(page.locator("h1 .badge")).to_have_text("Waiting")
    shot(page, "30-conversation")
