"""Announcements: shown between their start and end, to all customers or to the current
users of a package or a router; ended early by staff."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import insert

from messaging.actors import Actor
from messaging.announcements import announcements_for, end_announcement, post_announcement
from messaging.errors import NotAllowed
from tests.conftest import unique_key
from tests.hotspot.builders import make_login, make_package
from tests.messaging.builders import make_customer, make_staff_actor
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
