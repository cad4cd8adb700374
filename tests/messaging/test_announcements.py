"""Announcements: shown between their start and end, to all customers or to the current
users of a package or a router; ended early by staff; pushed once to the linked chats of
their audience, in the transaction that posts them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import insert, select

from messaging.actors import Actor
from messaging.announcements import (
    announcements_for,
    end_announcement,
    notice_key,
    post_announcement,
)
from messaging.chats import issue_link_token, redeem_link_token
from messaging.errors import NotAllowed
from messaging.models import Announcement, Notice
from messaging.notifications import ANNOUNCEMENT, KINDS, render_notice, save_choices
from messaging.outbox import ALL_CHATS, route_notices
from tests.conftest import unique_key
from tests.hotspot.builders import make_login, make_package
from tests.messaging.builders import make_customer, make_staff_actor
from wallet.backoffice import set_customer_status
from wallet.errors import InvalidInput
from wallet.hotspot_models import HotspotLogin, Router, package_routers
from wallet.internet import buy_package
from wallet.ledger import utcnow


def make_router(db) -> int:
    def work(session):
        router = Router(
            name=unique_key("router"),
            host="192.0.2.1",
            username="api",
            password_encrypted="-",
            created_at=utcnow(),
        )
        session.add(router)
        session.flush()
        return router.id

    return db.run(work)


def subscribed_customer(db, package_id: int) -> int:
    """A customer whose login has a subscription to `package_id` running now."""
    _, login_id = make_login(db, 100_000_000_000)
    db.run(lambda s: buy_package(s, login_id, package_id, key=unique_key("buy")))
    with db.transaction() as session:
        return session.get(HotspotLogin, login_id).customer_id


def post(db, staff, text, **options):
    now = utcnow()
    options.setdefault("starts_at", now - timedelta(hours=1))
    options.setdefault("ends_at", now + timedelta(days=1))
    return db.run(lambda s: post_announcement(s, staff, text=text, **options).id)


def texts_for(db, customer_id, now=None) -> list[str]:
    with db.transaction() as session:
        return [a.text for a in announcements_for(session, customer_id, now)]


def test_an_announcement_to_all_is_shown_to_every_customer_between_its_start_and_end(db):
    staff = make_staff_actor(db)
    text = unique_key("Maintenance tonight")
    now = utcnow()
    post(db, staff, text, starts_at=now + timedelta(hours=1), ends_at=now + timedelta(hours=3))
    customer = make_customer(db)
    assert text not in texts_for(db, customer, now)
    assert text in texts_for(db, customer, now + timedelta(hours=2))
    assert text not in texts_for(db, customer, now + timedelta(hours=3))


def test_an_announcement_to_a_packages_users_reaches_only_its_current_users(db):
    staff = make_staff_actor(db)
    package_id = make_package(db)
    other_package = make_package(db)
    text = unique_key("New speed for your package")
    post(db, staff, text, audience="package", package_id=package_id)
    assert text in texts_for(db, subscribed_customer(db, package_id))
    assert text not in texts_for(db, subscribed_customer(db, other_package))
    assert text not in texts_for(db, make_customer(db))


def test_an_announcement_to_a_routers_users_reaches_the_users_of_its_packages(db):
    staff = make_staff_actor(db)
    router_id = make_router(db)
    served = make_package(db)
    elsewhere = make_package(db)
    db.run(
        lambda s: s.execute(insert(package_routers).values(package_id=served, router_id=router_id))
    )
    text = unique_key("The tower is being repaired")
    post(db, staff, text, audience="router", router_id=router_id)
    assert text in texts_for(db, subscribed_customer(db, served))
    assert text not in texts_for(db, subscribed_customer(db, elsewhere))


def test_ending_an_announcement_early_hides_it_at_once_and_is_audited(db):
    staff = make_staff_actor(db)
    text = unique_key("Promo")
    announcement_id = post(db, staff, text)
    customer = make_customer(db)
    assert text in texts_for(db, customer)
    ended = db.run(lambda s: end_announcement(s, staff, announcement_id))
    assert ended.ended_by == staff.name
    assert text not in texts_for(db, customer)


def test_an_announcement_needs_words_an_end_after_its_start_and_a_staff_author(db):
    staff = make_staff_actor(db)
    now = utcnow()
    with pytest.raises(InvalidInput):
        post(db, staff, "  ")
    with pytest.raises(InvalidInput):
        post(db, staff, "backwards", starts_at=now, ends_at=now - timedelta(minutes=1))
    with pytest.raises(NotAllowed):
        post(db, Actor.customer(make_customer(db)), "I am not staff")


# --- pushed to the chats ------------------------------------------------------------------


def link_chat(db, customer_id: int, platform: str = "telegram") -> str:
    chat_id = unique_key("chat")

    def work(session):
        token, _ = issue_link_token(session, platform, actor="test", customer_id=customer_id)
        redeem_link_token(session, platform, chat_id, token, language="id")

    db.run(work)
    return chat_id


def announcement_notices(db, announcement_id: int) -> list[Notice]:
    with db.transaction() as session:
        return list(
            session.execute(
                select(Notice)
                .where(Notice.key.like(f"announcement:{announcement_id}:%"))
                .order_by(Notice.id)
            ).scalars()
        )


def test_an_announcement_to_a_packages_users_is_one_notice_per_linked_user(db):
    staff = make_staff_actor(db)
    package_id = make_package(db)
    two_chats, one_chat = subscribed_customer(db, package_id), subscribed_customer(db, package_id)
    subscribed_customer(db, package_id)  # no chat linked: the portal shows it, no notice
    turned_off = subscribed_customer(db, package_id)
    disabled = subscribed_customer(db, package_id)
    stranger = make_customer(db)  # linked, but not a user of the package
    for customer_id in (two_chats, one_chat, turned_off, disabled, stranger):
        link_chat(db, customer_id)
    link_chat(db, two_chats, platform="line")
    db.run(lambda s: save_choices(s, turned_off, set(KINDS) - {ANNOUNCEMENT}))
    db.run(lambda s: set_customer_status(s, disabled, "disabled", actor="test"))
    text = unique_key("Gangguan jaringan malam ini")

    announcement_id = post(db, staff, text, audience="package", package_id=package_id)

    notices = announcement_notices(db, announcement_id)
    assert [(n.recipient, n.channel, n.kind) for n in notices] == [
        (f"customer:{c}", ALL_CHATS, ANNOUNCEMENT) for c in sorted((two_chats, one_chat))
    ]
    assert [n.key for n in notices] == [
        notice_key(announcement_id, c) for c in sorted((two_chats, one_chat))
    ]
    assert {render_notice(n, "id") for n in notices} == {text}


def test_an_announcement_and_its_notices_commit_together(db):
    staff = make_staff_actor(db)
    link_chat(db, make_customer(db))
    text = unique_key("Tidak jadi")
    posted: list[int] = []

    def post_then_fail(session):
        now = utcnow()
        announcement = post_announcement(
            session, staff, text=text, starts_at=now, ends_at=now + timedelta(days=1)
        )
        posted.append(announcement.id)
        assert announcement_notices_in(session, announcement.id) > 0
        raise Boom

    with pytest.raises(Boom):
        db.run(post_then_fail)
    with db.transaction() as session:
        assert session.get(Announcement, posted[0]) is None
    assert announcement_notices(db, posted[0]) == []


class Boom(Exception):
    pass


def announcement_notices_in(session, announcement_id: int) -> int:
    return len(
        session.execute(
            select(Notice.id).where(Notice.key.like(f"announcement:{announcement_id}:%"))
        ).all()
    )


def test_a_later_announcement_is_sent_at_its_start_and_not_at_all_when_ended_before(db):
    staff = make_staff_actor(db)
    customer_id = make_customer(db)
    link_chat(db, customer_id)
    now = utcnow()
    later = dict(starts_at=now + timedelta(hours=2), ends_at=now + timedelta(hours=5))
    sent_later = post(db, staff, unique_key("Besok"), **later)
    withdrawn = post(db, staff, unique_key("Batal"), **later)

    db.run(lambda s: route_notices(s, now=now + timedelta(hours=1)))
    assert {n.routed_at for n in announcement_notices(db, sent_later)} == {None}
    db.run(lambda s: end_announcement(s, staff, withdrawn, now=now + timedelta(hours=1)))
    assert announcement_notices(db, withdrawn) == []

    db.run(lambda s: route_notices(s, now=now + timedelta(hours=2, seconds=1), limit=10_000))
    with db.transaction() as session:
        (notice,) = session.execute(
            select(Notice).where(Notice.key == notice_key(sent_later, customer_id))
        ).scalars()
        assert notice.routed_at is not None
        assert [(d.platform, d.status) for d in notice.deliveries] == [("telegram", "pending")]
