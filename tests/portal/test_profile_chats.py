"""Profile, chat apps: "Connect Telegram" makes a one-time token and opens the bot with
it, "Connect LINE" shows a code to send, and a linked chat is disconnected by its
customer only (another customer's link id is not found and stays linked)."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import select

from messaging.chats import (
    find_link,
    issue_link_token,
    mark_chat_blocked,
    reachable_again,
    redeem_link_token,
    remember_bot,
)
from portal import create_app
from tests.portal.conftest import PortalClient, make_customer, signed_in
from wallet.staff import AuditRecord


def test_connect_telegram_opens_the_bot_with_a_token_that_links_the_customer(portal, db, alice):
    db.run(lambda s: remember_bot(s, "telegram", "pulsa_test_bot"))
    client = signed_in(portal, alice)
    assert "Connect Telegram" in client.get("/profile/").get_data(as_text=True)
    response = client.post("/profile/chats/telegram")
    assert response.status_code == 303
    target = urlsplit(response.headers["Location"])
    assert (target.scheme, target.netloc, target.path) == ("https", "t.me", "/pulsa_test_bot")
    [token] = parse_qs(target.query)["start"]
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,64}", token), "Telegram's start parameter rule"
    link = db.run(lambda s: redeem_link_token(s, "telegram", "31337", token))
    assert link.customer_id == alice.customer_id
    page = client.get("/profile/").get_data(as_text=True)
    assert 'data-test="chat">Telegram' in page


def test_connect_telegram_needs_a_form_token(portal, db, alice):
    client = signed_in(portal, alice)
    client.get("/profile/")
    assert client.post("/profile/chats/telegram", csrf=False).status_code == 400


def test_a_customer_disconnects_their_chat_and_never_anothers(portal, db, alice, bob):
    alices_chat, alices_chat_id = _linked(db, alice)
    bobs_chat, bobs_chat_id = _linked(db, bob)
    client = signed_in(portal, alice)
    client.get("/profile/")
    assert client.post(f"/profile/chats/{bobs_chat}/disconnect").status_code == 404
    assert client.post(f"/profile/chats/{alices_chat}/disconnect").status_code == 302
    with db.transaction() as s:
        assert find_link(s, "telegram", alices_chat_id) is None
        assert find_link(s, "telegram", bobs_chat_id).customer_id == bob.customer_id
        assert s.execute(
            select(AuditRecord).where(
                AuditRecord.action == "chat.unlink",
                AuditRecord.actor == f"portal:customer:{alice.customer_id}",
            )
        ).scalar_one()


def _linked(db, person) -> tuple[int, str]:
    """A Telegram chat linked to the person: (link id, chat id)."""
    chat_id = f"4000{person.customer_id}"

    def work(s):
        token, _ = issue_link_token(s, "telegram", actor="test", customer_id=person.customer_id)
        return redeem_link_token(s, "telegram", chat_id, token).id

    return db.run(work), chat_id


def test_connect_line_shows_a_code_when_line_is_configured(db, settings, tmp_path):
    line = settings.with_overrides(line_channel_secret="secret", line_access_token="access-token")
    app = create_app(line, db, upload_folder=tmp_path / "uploads")
    app.test_client_class = PortalClient
    person = make_customer(db)
    client = signed_in(app, person)
    client.get("/profile/")
    page = client.post("/profile/chats/line").get_data(as_text=True)
    code = re.search(r'data-test="line-code">[^<]*<strong>([A-Z0-9]{4}-[A-Z0-9]{4})</strong>', page)
    assert db.run(lambda s: redeem_link_token(s, "line", "U123", code.group(1))).customer_id == (
        person.customer_id
    )


def test_connect_line_links_to_the_line_account_once_its_id_is_known(db, settings, tmp_path):
    from messaging.chats import remember_bot

    line = settings.with_overrides(line_channel_secret="secret", line_access_token="access-token")
    app = create_app(line, db, upload_folder=tmp_path / "uploads")
    app.test_client_class = PortalClient
    client = signed_in(app, make_customer(db))
    client.get("/profile/")
    db.run(lambda s: remember_bot(s, "line", "@123pulsa"))

    page = client.post("/profile/chats/line").get_data(as_text=True)

    assert 'href="https://line.me/R/ti/p/%40123pulsa" data-test="line-account"' in page


def test_connect_line_is_not_found_without_line(portal, alice):
    client = signed_in(portal, alice)
    client.get("/profile/")
    assert client.post("/profile/chats/line").status_code == 404


def test_a_chat_that_blocked_the_bot_says_so_on_the_profile_until_it_writes_again(
    portal, db, alice
):
    chat_id = "40404"

    def link(session):
        token, _ = issue_link_token(
            session, "telegram", actor="test", customer_id=alice.customer_id
        )
        redeem_link_token(session, "telegram", chat_id, token)

    db.run(link)
    client = signed_in(portal, alice)
    assert 'data-test="chat-blocked"' not in client.get("/profile/").get_data(as_text=True)

    db.run(lambda s: mark_chat_blocked(s, "telegram", chat_id))
    assert 'data-test="chat-blocked"' in client.get("/profile/").get_data(as_text=True)

    db.run(lambda s: reachable_again(find_link(s, "telegram", chat_id)))
    assert 'data-test="chat-blocked"' not in client.get("/profile/").get_data(as_text=True)
