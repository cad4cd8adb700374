"""Staff link their own Telegram or LINE chat from their admin profile: a one-time token
shown once (a t.me link once the bot has started and noted its name), the chats linked
listed, and each unlinked by its owner only."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from bots.dialogue import Incoming, handle
from messaging.chats import find_link, remember_bot
from messaging.models import ChatLink
from pulsa.settings import load_settings
from tests.conftest import unique_key
from tests.webadmin.conftest import AdminClient, make_staff, signed_in
from wallet.staff import AuditRecord, StaffUser
from webadmin import create_app


@pytest.fixture
def settings(db):
    """The admin of a site whose Telegram and LINE bots are configured."""
    return load_settings(
        {
            "PULSA_DATABASE_URL": db.url,
            "PULSA_SECRET_KEY": "test-secret",
            "PULSA_TELEGRAM_TOKEN": "123456:TEST-token",
            "PULSA_LINE_CHANNEL_SECRET": "line-secret",
            "PULSA_LINE_ACCESS_TOKEN": "line-token",
        }
    )


def staff_id_of(db, username: str) -> int:
    with db.transaction() as session:
        return session.execute(
            select(StaffUser.id).where(StaffUser.username == username)
        ).scalar_one()


def start(db, settings, chat_id: str, token: str) -> str:
    replies = handle(
        db,
        settings,
        Incoming("telegram", chat_id, unique_key("u"), text=f"/start {token}", language="en"),
    )
    return "\n".join(r.text for r in replies)


def test_a_staff_member_links_their_telegram_from_the_profile(app, db, settings):
    username = make_staff(db, grants={"payments": "view"})
    client = signed_in(app, username)
    page = client.post("/profile/chat-link", data={"platform": "telegram"}).get_data(as_text=True)
    token = re.search(r"<code>/start ([A-Za-z0-9_-]+)</code>", page).group(1)
    chat_id = unique_key("chat")

    assert "linked to your staff account" in start(db, settings, chat_id, token)

    staff_id = staff_id_of(db, username)
    with db.transaction() as session:
        assert find_link(session, "telegram", chat_id).staff_id == staff_id
    page = client.get("/profile").get_data(as_text=True)
    assert chat_id in page and token not in page, "the token is shown once"
    assert "unknown, used or expired" in start(db, settings, unique_key("other"), token)


def test_once_the_bot_has_started_the_profile_gives_a_telegram_link(app, db):
    db.run(lambda s: remember_bot(s, "telegram", "RW07NetBot"))
    client = signed_in(app, make_staff(db, grants={}))
    page = client.post("/profile/chat-link", data={"platform": "telegram"}).get_data(as_text=True)
    assert re.search(r'href="https://t.me/RW07NetBot\?start=[A-Za-z0-9_-]+"', page)


def test_a_line_code_is_shown_to_type(app, db):
    client = signed_in(app, make_staff(db, grants={}))
    page = client.post("/profile/chat-link", data={"platform": "line"}).get_data(as_text=True)
    assert re.search(r"<code>[A-Z2-9]{8}</code>", page)


def test_a_staff_member_unlinks_their_own_chat_only(app, db, settings):
    owner, other = make_staff(db, grants={}), make_staff(db, grants={})
    owner_client, other_client = signed_in(app, owner), signed_in(app, other)
    page = owner_client.post("/profile/chat-link", data={"platform": "telegram"}).get_data(
        as_text=True
    )
    token = re.search(r"<code>/start ([A-Za-z0-9_-]+)</code>", page).group(1)
    chat_id = unique_key("chat")
    start(db, settings, chat_id, token)
    with db.transaction() as session:
        link_id = find_link(session, "telegram", chat_id).id

    assert other_client.post(f"/profile/chat-link/{link_id}/unlink").status_code == 404
    assert owner_client.post(f"/profile/chat-link/{link_id}/unlink").status_code == 302

    with db.transaction() as session:
        assert session.get(ChatLink, link_id) is None
        actors = session.execute(
            select(AuditRecord.actor).where(AuditRecord.action == "chat.unlink")
        ).scalars()
        assert f"web:{owner}" in set(actors)


def test_linking_needs_a_known_chat_app_and_the_csrf_token(app, db):
    client = signed_in(app, make_staff(db, grants={}))
    assert client.post("/profile/chat-link", data={"platform": "whatsapp"}).status_code == 400
    response = client.post("/profile/chat-link", data={"platform": "telegram"}, csrf=False)
    assert response.status_code == 400


def test_the_profile_speaks_indonesian(app, db):
    client = signed_in(app, make_staff(db, grants={}, locale="id"))
    page = client.get("/profile").get_data(as_text=True)
    assert "Aplikasi chat" in page and "Tautkan Telegram" in page


def test_without_a_chat_bot_the_profile_offers_no_link(db, tmp_path):
    bare = load_settings({"PULSA_DATABASE_URL": db.url, "PULSA_SECRET_KEY": "test-secret"})
    app = create_app(bare, db, upload_folder=tmp_path / "uploads")
    app.test_client_class = AdminClient
    page = signed_in(app, make_staff(db, grants={})).get("/profile").get_data(as_text=True)
    assert "Link Telegram" not in page and "No chat bot runs here yet" in page
