"""Why an internet package has not started: what the admin and the customer read
instead of dates while a subscription waits for its start (`Subscription.awaits_start`).

A package bought with nothing running starts when a router first holds it, or at its
first login (the operator's choice, `wallet.internet.start_mode`). Until then it is
either on no router (none registered for its package), the sync is off (no router key,
the router disabled in pulsa, or no pass for a while), its router is unreachable since
a moment, the next pass is about to take it, or it is on a router and waits for the
customer's first login. The adapters translate the reason; this module only finds it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from wallet.hotspot_models import Router, Subscription, package_routers
from wallet.internet import start_mode

#: The reasons, in the order they are looked for.
REASONS = (
    "first_login",  # on a router, waiting for the customer's first login
    "no_router",  # its package is on no router
    "sync_off",  # no router key: nothing talks to routers
    "router_off",  # the package's routers are disabled in pulsa
    "unreachable",  # the last pass could not reach its router (since `since`)
    "sync_stopped",  # no pass for a while (last one at `since`, None: never)
    "next_sync",  # the router answers: the next pass takes it
)


@dataclass(frozen=True)
class Waiting:
    """Why a subscription has not started; `router` and `since` where the reason has them."""

    reason: str
    router: str | None = None
    since: datetime | None = None


def why_waiting(
    session: Session,
    subscriptions: Iterable[Subscription],
    *,
    sync_on: bool,
    sync_seconds: int,
    now: datetime,
) -> dict[int, Waiting]:
    """The reason of each subscription that waits for its start, by subscription id
    (those that do not wait are left out). `sync_on`: the router key is set, so a sync
    can run; a pass older than three intervals (or never) means it does not run."""
    waiting = [s for s in subscriptions if s.awaits_start and s.status == "active"]
    if not waiting:
        return {}
    mode = start_mode(session)
    routers_of: dict[int, list[Router]] = {}
    for package_id, router in session.execute(
        select(package_routers.c.package_id, Router)
        .join(Router, Router.id == package_routers.c.router_id)
        .where(package_routers.c.package_id.in_({s.package_id for s in waiting}))
        .order_by(Router.id)
    ).all():
        routers_of.setdefault(package_id, []).append(router)
    stale = now - max(timedelta(seconds=3 * sync_seconds), timedelta(minutes=3))
    reasons = {}
    for subscription in waiting:
        if mode == "first_login" and subscription.on_router_at is not None:
            reasons[subscription.id] = Waiting("first_login", since=subscription.on_router_at)
        else:
            reasons[subscription.id] = _router_reason(
                routers_of.get(subscription.package_id, []), sync_on, stale
            )
    return reasons


def _router_reason(routers: list[Router], sync_on: bool, stale: datetime) -> Waiting:
    if not routers:
        return Waiting("no_router")
    if not sync_on:
        return Waiting("sync_off")
    enabled = [r for r in routers if r.enabled]
    if not enabled:
        return Waiting("router_off", router=routers[0].name)
    if any(_answers(r, stale) for r in enabled):
        return Waiting("next_sync")
    failing = [r for r in enabled if r.last_sync_ok is False]
    if failing:
        first = min(failing, key=lambda r: r.unreachable_since or r.last_sync_at or stale)
        return Waiting("unreachable", router=first.name, since=first.unreachable_since)
    passes = [r.last_sync_at for r in enabled if r.last_sync_at is not None]
    return Waiting("sync_stopped", since=max(passes) if passes else None)


def _answers(router: Router, stale: datetime) -> bool:
    """The router answered a recent pass, or was just added and has its first to come."""
    if router.last_sync_at is None:
        return router.created_at >= stale
    return bool(router.last_sync_ok) and router.last_sync_at >= stale
