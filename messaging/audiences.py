"""Who an audience is: every customer, or the users of one internet package, or of one
router. One definition serves the operator's announcements (shown on the portal and
pushed to chats) and broadcasts (pushed to chats), in both directions: the customers of an
audience, and the packages a customer uses now.

A user of a package is a customer whose hotspot login has an active subscription of it
running now, or bought and waiting for its start (its user is about to be on it too).
A router's users are the users of the packages provisioned on it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, Select, exists, func, or_, select
from sqlalchemy.orm import Session

from messaging.models import AUDIENCES, ChatLink, NotificationSetting
from wallet.errors import InvalidInput, NotFound
from wallet.hotspot_models import (
    HotspotLogin,
    InternetPackage,
    Router,
    Subscription,
    package_routers,
)
from wallet.ledger import utcnow
from wallet.models import Customer


def checked_audience(
    session: Session, audience: str, package_id: int | None, router_id: int | None
) -> tuple[int | None, int | None]:
    """The (package id, router id) an audience names, checked: the package or router it
    names exists, and the other is None."""
    if audience not in AUDIENCES:
        raise InvalidInput(f"unknown audience {audience!r}")
    if audience == "package":
        if package_id is None or session.get(InternetPackage, package_id) is None:
            raise NotFound("choose an existing package")
        return package_id, None
    if audience == "router":
        if router_id is None or session.get(Router, router_id) is None:
            raise NotFound("choose an existing router")
        return None, router_id
    return None, None


def _in_use(moment: datetime) -> ColumnElement[bool]:
    """A subscription its customer uses at `moment`: running, or bought and waiting for
    its first login."""
    return (Subscription.status == "active") & or_(
        Subscription.awaits_start.is_(True),
        (Subscription.starts_at <= moment) & (Subscription.ends_at > moment),
    )


def audience_customers(
    audience: str,
    *,
    package_id: int | None = None,
    router_id: int | None = None,
    now: datetime | None = None,
) -> Select:
    """The ids of the customers an audience names at `now`."""
    moment = now or utcnow()
    if audience == "all":
        return select(Customer.id)
    using = (
        select(HotspotLogin.customer_id)
        .join(Subscription, Subscription.login_id == HotspotLogin.id)
        .where(HotspotLogin.customer_id.is_not(None), _in_use(moment))
    )
    if audience == "package":
        return using.where(Subscription.package_id == package_id)
    if audience == "router":
        return using.where(Subscription.package_id.in_(packages_on_router(router_id)))
    raise InvalidInput(f"unknown audience {audience!r}")


def packages_on_router(router_id) -> Select:
    return select(package_routers.c.package_id).where(package_routers.c.router_id == router_id)


def packages_in_use(customer_id, now=None) -> Select:
    """The ids of the packages `customer_id` uses at `now` (the other direction of
    `audience_customers`: the customer is among the package's users). Both may be
    bound parameters, for a statement built once."""
    return (
        select(Subscription.package_id)
        .join(HotspotLogin, HotspotLogin.id == Subscription.login_id)
        .where(
            HotspotLogin.customer_id == customer_id,
            _in_use(utcnow() if now is None else now),
        )
    )


def _reachable(audience: str, kind: str, **names) -> ColumnElement[bool]:
    """The chat links to push a message of `kind` to: linked to a customer of the
    audience who is not disabled and has not turned `kind` off."""
    turned_off = exists(
        select(NotificationSetting.id).where(
            NotificationSetting.customer_id == ChatLink.customer_id,
            NotificationSetting.kind == kind,
            NotificationSetting.enabled.is_(False),
        )
    )
    return (
        ChatLink.customer_id.in_(audience_customers(audience, **names))
        & (Customer.status != "disabled")
        & ~turned_off
    )


def audience_chats(
    session: Session,
    audience: str,
    kind: str,
    *,
    package_id: int | None = None,
    router_id: int | None = None,
    now: datetime | None = None,
) -> list[tuple[int, str, str, str]]:
    """(customer id, platform, chat id, language) of every chat a message of `kind` to
    the audience goes to, in a stable order."""
    reachable = _reachable(audience, kind, package_id=package_id, router_id=router_id, now=now)
    return [
        tuple(row)
        for row in session.execute(
            select(ChatLink.customer_id, ChatLink.platform, ChatLink.chat_id, ChatLink.language)
            .join(Customer, Customer.id == ChatLink.customer_id)
            .where(reachable)
            .order_by(ChatLink.id)
        ).all()
    ]


def audience_chat_customers(
    session: Session,
    audience: str,
    kind: str,
    *,
    package_id: int | None = None,
    router_id: int | None = None,
    now: datetime | None = None,
) -> list[int]:
    """The customers with at least one chat a message of `kind` to the audience goes
    to, in id order."""
    reachable = _reachable(audience, kind, package_id=package_id, router_id=router_id, now=now)
    return list(
        session.execute(
            select(ChatLink.customer_id)
            .join(Customer, Customer.id == ChatLink.customer_id)
            .where(reachable)
            .group_by(ChatLink.customer_id)
            .order_by(ChatLink.customer_id)
        ).scalars()
    )


def count_audience_chats(session: Session, audience: str, kind: str) -> int:
    """How many chats a message of `kind` to the audience goes to (counted, not read)."""
    reachable = _reachable(audience, kind)
    return int(
        session.execute(
            select(func.count(ChatLink.id))
            .join(Customer, Customer.id == ChatLink.customer_id)
            .where(reachable)
        ).scalar_one()
    )
