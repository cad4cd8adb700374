"""The Announcements screen: post to all or to a package's users with start and end in the
operator's time zone, the list, ending early; view and change permissions."""

from __future__ import annotations

import re
import secrets
from datetime import timedelta

from sqlalchemy import select

from messaging.chats import issue_link_token, redeem_link_token
from messaging.models import Announcement, Notice
from messaging.notifications import render_notice
from tests.conftest import make_account, unique_key
from tests.hotspot.builders import make_login, make_package
from tests.webadmin.conftest import field_errors, make_staff, page_with, signed_in
from wallet.hotspot_models import HotspotLogin
from wallet.internet import buy_package
from wallet.ledger import utcnow
from wallet.models import Account


def form(text: str, **values: str) -> dict[str, str]:
    now = utcnow()  # the test site's time zone is UTC unless a test changes it
    data = {
        "key": secrets.token_hex(16),  # the form's key, as the page renders it
        "text": text,
        "audience": "all",
        "package": "",
        "router": "",
        "starts": (now - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
        "ends": (now + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M"),
    }
    data.update(values)
    return data


def announcement(db, text: str) -> Announcement:
    with db.transaction() as session:
        return session.execute(select(Announcement).where(Announcement.text == text)).scalar_one()


def test_an_announcement_to_all_is_posted_listed_and_ended_early(db, admin):
    text = unique_key("Maintenance on Sunday")
    response = admin.post("/announcements/", data=form(text))
    assert response.status_code == 302
    posted = announcement(db, text)
    assert posted.audience == "all"
    assert posted.created_by.startswith("web:")
    assert text in page_with(admin, "/announcements/", text)
    admin.post(f"/announcements/{posted.id}/end")
    assert announcement(db, text).ends_at <= utcnow()


def test_an_announcement_to_a_packages_users_needs_the_package(db, admin):
    text = unique_key("Speed upgrade")
    page = admin.post("/announcements/", data=form(text, audience="package")).get_data(as_text=True)
    assert field_errors(page, "package") == ["Choose one."]
    package_id = make_package(db)
    admin.post("/announcements/", data=form(text, audience="package", package=str(package_id)))
    assert announcement(db, text).package_id == package_id


def test_an_announcement_ending_before_it_starts_is_refused_beside_the_end(db, admin):
    text = unique_key("Backwards")
    now = utcnow()
    page = admin.post(
        "/announcements/",
        data=form(text, ends=(now - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")),
    ).get_data(as_text=True)
    assert field_errors(page, "ends") == ["The end must come after the start."]
    with db.transaction() as session:
        assert (
            session.execute(select(Announcement).where(Announcement.text == text)).first() is None
        )


def test_viewing_announcements_does_not_allow_posting_and_no_permission_gets_403(db, app):
    viewer = signed_in(app, make_staff(db, grants={"announcements": "view"}))
    assert viewer.get("/announcements/").status_code == 200
    assert viewer.post("/announcements/", data=form(unique_key("x"))).status_code == 403
    outsider = signed_in(app, make_staff(db, grants={"payments": "view"}))
    assert outsider.get("/announcements/").status_code == 403


def test_an_announcement_to_a_packages_users_posted_here_goes_to_their_chats(db, admin):
    package_id = make_package(db)
    _account_id, login_id = make_login(db, 100_000_000_000)
    db.run(lambda s: buy_package(s, login_id, package_id, key=unique_key("buy")))
    customer_id = db.run(lambda s: s.get(HotspotLogin, login_id).customer_id)
    chat_id = unique_key("tg")

    def link(session):
        token, _ = issue_link_token(session, "telegram", actor="test", customer_id=customer_id)
        redeem_link_token(session, "telegram", chat_id, token, language="id")

    db.run(link)
    text = unique_key("Menara diperbaiki")
    page = admin.get("/announcements/").get_data(as_text=True)
    assert "sent once, at its start, to the linked chats" in page

    admin.post("/announcements/", data=form(text, audience="package", package=str(package_id)))

    posted = announcement(db, text)
    with db.transaction() as session:
        notices = session.execute(
            select(Notice).where(Notice.key.like(f"announcement:{posted.id}:%"))
        ).scalars()
        assert [(n.recipient, render_notice(n, "id")) for n in notices] == [
            (f"customer:{customer_id}", text)
        ]


def test_the_same_form_sent_twice_is_one_announcement_pushed_once(db, admin):
    customer_id = db.run(lambda s: s.get(Account, make_account(db)).customer_id)
    chat_id = unique_key("tg")

    def link(session):
        token, _ = issue_link_token(session, "telegram", actor="test", customer_id=customer_id)
        redeem_link_token(session, "telegram", chat_id, token, language="id")

    db.run(link)
    text = unique_key("Sekali saja")
    page = admin.get("/announcements/").get_data(as_text=True)
    data = form(text, key=re.search(r'name="key" type="hidden" value="([^"]+)"', page).group(1))

    first = admin.post("/announcements/", data=dict(data))
    second = admin.post("/announcements/", data=dict(data))

    assert (first.status_code, second.status_code) == (302, 302)
    posted = announcement(db, text)  # one, or scalar_one() fails
    with db.transaction() as session:
        keys = session.execute(
            select(Notice.key).where(Notice.recipient == f"customer:{customer_id}")
        ).scalars()
        assert list(keys) == [f"announcement:{posted.id}:{customer_id}"]


def test_an_announcement_form_without_its_key_is_refused(db, admin):
    text = unique_key("Tanpa kunci")
    page = admin.post("/announcements/", data=form(text, key="")).get_data(as_text=True)
    assert "This form expired" in page
    with db.transaction() as session:
        assert (
            session.execute(select(Announcement).where(Announcement.text == text)).first() is None
        )
