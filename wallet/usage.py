"""What the routers say a subscription has used: online time and data, per router, and
when it was read.

RouterOS counts a hotspot user's uptime and bytes against its `limit-uptime` and
`limit-bytes-total`; the reconciler reads those counters on every pass and keeps them here
for the subscription they count for (its comment tag says which). pulsa does not measure
use itself: these are the router's figures as of `read_at`, shown as such.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, Integer, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from wallet.models import Base, Id


class SubscriptionUsage(Base):
    """A router's counters for one subscription's login, as last read."""

    __tablename__ = "subscription_usage"

    subscription_id: Mapped[int] = mapped_column(
        Id, ForeignKey("internet_subscriptions.id"), primary_key=True, autoincrement=False
    )
    router_id: Mapped[int] = mapped_column(
        Id, ForeignKey("routers.id"), primary_key=True, autoincrement=False
    )
    uptime_seconds: Mapped[int] = mapped_column(Integer)
    bytes_total: Mapped[int] = mapped_column(BigInteger)  # in and out, as limit-bytes-total
    read_at: Mapped[datetime] = mapped_column(DateTime(timezone=False))


@dataclass(frozen=True)
class Usage:
    """A subscription's use over every router that counts it, and the oldest reading."""

    uptime_seconds: int
    bytes_total: int
    read_at: datetime


def record_usage(
    session: Session, router_id: int, counters: Mapping[int, tuple[int, int]], at: datetime
) -> None:
    """Keep one router's counters, subscription id -> (uptime seconds, bytes in and out)."""
    if not counters:
        return
    known = {
        row.subscription_id: row
        for row in session.execute(
            select(SubscriptionUsage).where(
                SubscriptionUsage.router_id == router_id,
                SubscriptionUsage.subscription_id.in_(sorted(counters)),
            )
        ).scalars()
    }
    for subscription_id, (uptime, size) in sorted(counters.items()):
        row = known.get(subscription_id)
        if row is None:
            row = SubscriptionUsage(subscription_id=subscription_id, router_id=router_id)
            session.add(row)
        row.uptime_seconds, row.bytes_total, row.read_at = uptime, size, at
    session.flush()


def usage_of(session: Session, subscription_ids: Iterable[int]) -> dict[int, Usage]:
    """What the routers counted for these subscriptions (those never read are absent)."""
    ids = sorted(set(subscription_ids))
    found: dict[int, Usage] = {}
    if not ids:
        return found
    for row in session.execute(
        select(SubscriptionUsage).where(SubscriptionUsage.subscription_id.in_(ids))
    ).scalars():
        seen = found.get(row.subscription_id)
        found[row.subscription_id] = Usage(
            row.uptime_seconds + (seen.uptime_seconds if seen else 0),
            row.bytes_total + (seen.bytes_total if seen else 0),
            min(row.read_at, seen.read_at) if seen else row.read_at,
        )
    return found
