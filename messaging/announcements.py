"""Announcements: the operator's messages on the portal home, to all customers or to the
current users of one package or one router, between a start and an end; pushed once to
the chats of that audience too (a notice of kind "announcement", which a customer may
turn off)."""

from __future__ import annotations

import json
from datetime import datetime
from functools import cache

from sqlalchemy import Select, bindparam, delete, exists, insert, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from messaging.actors import Actor
from messaging.audiences import audience_chat_customers, checked_audience, packages_in_use
from messaging.errors import NotAllowed
from messaging.models import Announcement, Notice
from messaging.notifications import ANNOUNCEMENT
from messaging.outbox import ALL_CHATS
from wallet.errors import InvalidInput, NotFound
from wallet.hotspot_models import package_routers
from wallet.ledger import utcnow
from wallet.staff import record_audit
from wallet.text import check_text

MAX_TEXT_LENGTH = 2000
_BATCH = 1000


def post_announcement(
    session: Session,
    actor: Actor,
    *,
    text: str,
    starts_at: datetime,
    ends_at: datetime,
    audience: str = "all",
    package_id: int | None = None,
    router_id: int | None = None,
    now: datetime | None = None,
    address: str | None = None,
    form_key: str | None = None,
) -> Announcement:
    """Publish a message for customers, shown from `starts_at` to `ends_at` (naive UTC).
    Given the `form_key` of one posted before (the same form submitted again), it returns
    that announcement and enqueues nothing more."""
    if not actor.is_staff:
        raise NotAllowed("only staff post announcements")
    form_key = (form_key or "").strip() or None
    if form_key is not None:
        if len(form_key) > 64:
            raise InvalidInput("a form key has at most 64 characters")
        earlier = _by_form_key(session, form_key)
        if earlier is not None:
            return earlier
    text = check_text((text or "").strip(), "the announcement", multiline=True)
    if not text:
        raise InvalidInput("write the announcement")
    if len(text) > MAX_TEXT_LENGTH:
        raise InvalidInput(f"an announcement has at most {MAX_TEXT_LENGTH} characters")
    if ends_at <= starts_at:
        raise InvalidInput("the end must come after the start")
    package_id, router_id = checked_audience(session, audience, package_id, router_id)
    moment = now or utcnow()
    announcement = Announcement(
        text=text,
        audience=audience,
        package_id=package_id,
        router_id=router_id,
        starts_at=starts_at,
        ends_at=ends_at,
        created_by=actor.name[:60],
        created_at=moment,
        form_key=form_key,
    )
    try:
        with session.begin_nested():
            session.add(announcement)
            session.flush()
    except IntegrityError:
        # The same form, submitted twice at once: the other submit made it.
        earlier = _by_form_key(session, form_key) if form_key else None
        if earlier is None:
            raise
        return earlier
    pushed = _push_to_chats(session, announcement, moment) if ends_at > moment else 0
    record_audit(
        session,
        actor.name,
        "announcement.post",
        f"announcement {announcement.id}",
        after={
            "audience": audience,
            "package": package_id,
            "router": router_id,
            "starts": starts_at,
            "ends": ends_at,
            "chat_notices": pushed,
        },
        address=address,
    )
    return announcement


def _by_form_key(session: Session, form_key: str) -> Announcement | None:
    # A locking read: on MariaDB a plain one would read this transaction's old snapshot
    # and miss the announcement another submit just committed.
    return session.execute(
        select(Announcement).where(Announcement.form_key == form_key).with_for_update()
    ).scalar_one_or_none()


def notice_key(announcement_id: int, customer_id: int) -> str:
    return f"{ANNOUNCEMENT}:{announcement_id}:{customer_id}"


def _push_to_chats(session: Session, announcement: Announcement, moment: datetime) -> int:
    """Enqueue the announcement for the chats of its audience, in the caller's
    transaction (it commits with the announcement or not at all): one notice per
    customer with a linked chat who has not turned announcements off and is not
    disabled (the worker sends it to each of their chats), keyed by announcement and
    customer so that it never goes twice. The audience is taken now; a notice waits
    for the announcement's start. Inserted in bulk, one statement per `_BATCH`: an
    audience of thousands costs a few statements, not a round trip each. Returns how
    many."""
    customers = audience_chat_customers(
        session,
        announcement.audience,
        ANNOUNCEMENT,
        package_id=announcement.package_id,
        router_id=announcement.router_id,
        now=moment,
    )
    payload = json.dumps(
        {"announcement": announcement.id, "text": announcement.text},
        sort_keys=True,
        ensure_ascii=False,
    )
    due = max(moment, announcement.starts_at)
    rows = [
        {
            "key": notice_key(announcement.id, customer_id),
            "recipient": f"customer:{customer_id}",
            "channel": ALL_CHATS,
            "payload": payload,
            "kind": ANNOUNCEMENT,
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": due,
            "created_at": moment,
        }
        for customer_id in customers
    ]
    for start in range(0, len(rows), _BATCH):
        session.execute(insert(Notice), rows[start : start + _BATCH])
    return len(rows)


def end_announcement(
    session: Session,
    actor: Actor,
    announcement_id: int,
    *,
    now: datetime | None = None,
    address: str | None = None,
) -> Announcement:
    """Stop showing an announcement now (one already over stays as it was)."""
    if not actor.is_staff:
        raise NotAllowed("only staff end announcements")
    announcement = session.get(Announcement, announcement_id)
    if announcement is None:
        raise NotFound(f"announcement {announcement_id} does not exist")
    moment = now or utcnow()
    if announcement.ends_at <= moment:
        return announcement
    before = announcement.ends_at
    announcement.ends_at = max(moment, announcement.starts_at)
    announcement.ended_by = actor.name[:60]
    session.flush()
    # Its notices the worker has not taken yet (waiting for the start, or not routed
    # yet) are not sent: an ended announcement is not news. Those on their way go on.
    withdrawn = session.execute(
        delete(Notice)
        .where(
            Notice.key.like(f"{ANNOUNCEMENT}:{announcement.id}:%"),
            Notice.status == "pending",
            Notice.routed_at.is_(None),
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    record_audit(
        session,
        actor.name,
        "announcement.end",
        f"announcement {announcement.id}",
        before={"ends": before},
        after={"ends": announcement.ends_at, "chat_notices_withdrawn": withdrawn},
        address=address,
    )
    return announcement


def all_announcements() -> Select:
    """Every announcement, the latest first (the staff's list)."""
    return select(Announcement).order_by(Announcement.starts_at.desc(), Announcement.id.desc())


def announcements_for(
    session: Session, customer_id: int, now: datetime | None = None
) -> list[Announcement]:
    """What `customer_id` is shown at `now`: announcements to all, and to the users of a
    package or a router when the customer is one of them (messaging.audiences, the
    definition the chats' push uses too)."""
    found = session.execute(
        _announcements_query(), {"customer_id": customer_id, "now": now or utcnow()}
    )
    return list(found.scalars())


@cache
def _announcements_query() -> Select:
    # Built once and run with the customer and the moment: the portal's home asks it on
    # every visit, and building it cost more CPU than running it (bench/portal.py).
    moment = bindparam("now")
    running = packages_in_use(bindparam("customer_id"), moment)
    on_router = exists(
        select(package_routers.c.package_id).where(
            package_routers.c.router_id == Announcement.router_id,
            package_routers.c.package_id.in_(running),
        )
    )
    return (
        select(Announcement)
        .where(
            Announcement.starts_at <= moment,
            Announcement.ends_at > moment,
            or_(
                Announcement.audience == "all",
                (Announcement.audience == "package") & Announcement.package_id.in_(running),
                (Announcement.audience == "router") & on_router,
            ),
        )
        .order_by(Announcement.starts_at.desc(), Announcement.id.desc())
    )
