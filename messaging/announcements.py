"""Announcements: the operator's messages on the portal home, to all customers or to the
current users of one package or one router, between a start and an end."""

from __future__ import annotations

from datetime import datetime
from functools import cache

from sqlalchemy import Select, bindparam, exists, or_, select
from sqlalchemy.orm import Session

from messaging.actors import Actor
from messaging.errors import NotAllowed
from messaging.models import AUDIENCES, Announcement
from wallet.errors import InvalidInput, NotFound
from wallet.hotspot_models import (
    HotspotLogin,
    InternetPackage,
    Router,
    Subscription,
    package_routers,
)
from wallet.ledger import utcnow
from wallet.staff import record_audit
from wallet.text import check_text

MAX_TEXT_LENGTH = 2000


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
) -> Announcement:
    """Publish a message for customers, shown from `starts_at` to `ends_at` (naive UTC)."""
    if not actor.is_staff:
        raise NotAllowed("only staff post announcements")
    text = check_text((text or "").strip(), "the announcement", multiline=True)
    if not text:
        raise InvalidInput("write the announcement")
    if len(text) > MAX_TEXT_LENGTH:
        raise InvalidInput(f"an announcement has at most {MAX_TEXT_LENGTH} characters")
    if audience not in AUDIENCES:
        raise InvalidInput(f"unknown audience {audience!r}")
    if ends_at <= starts_at:
        raise InvalidInput("the end must come after the start")
    if audience == "package":
        if package_id is None or session.get(InternetPackage, package_id) is None:
            raise NotFound("choose an existing package")
        router_id = None
    elif audience == "router":
        if router_id is None or session.get(Router, router_id) is None:
            raise NotFound("choose an existing router")
        package_id = None
    else:
        package_id = router_id = None
    announcement = Announcement(
        text=text,
        audience=audience,
        package_id=package_id,
        router_id=router_id,
        starts_at=starts_at,
        ends_at=ends_at,
        created_by=actor.name[:60],
        created_at=now or utcnow(),
    )
    session.add(announcement)
    session.flush()
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
        },
        address=address,
    )
    return announcement


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
    record_audit(
        session,
        actor.name,
        "announcement.end",
        f"announcement {announcement.id}",
        before={"ends": before},
        after={"ends": announcement.ends_at},
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
    package or a router when one of the customer's logins has a subscription running now
    for that package (or for a package provisioned on that router)."""
    found = session.execute(
        _announcements_query(), {"customer_id": customer_id, "now": now or utcnow()}
    )
    return list(found.scalars())


@cache
def _announcements_query() -> Select:
    # Built once and run with the customer and the moment: the portal's home asks it on
    # every visit, and building it cost more CPU than running it (bench/portal.py).
    moment = bindparam("now")
    running = (
        select(Subscription.package_id)
        .join(HotspotLogin, HotspotLogin.id == Subscription.login_id)
        .where(
            HotspotLogin.customer_id == bindparam("customer_id"),
            Subscription.status == "active",
            Subscription.starts_at <= moment,
            Subscription.ends_at > moment,
        )
    )
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
