"""Read-only figures for the admin's reports and dashboard: revenue by day, month,
payment method, customer type and destination prefix; calls per hour; new customers.

Periods are calendar days and months in the operator's time zone (stored times are naive
UTC), so "today" means the operator's today. Amounts stay integer micro-units.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from wallet.models import Account, Call, CallRecord, Customer, LedgerEntry


@dataclass
class PeriodRevenue:
    period: str  # 2026-11-23 or 2026-11
    topups: int = 0
    topup_count: int = 0
    call_revenue: int = 0  # what calls were charged (positive)
    other_spend: int = 0  # packages, vouchers and other debits (positive)
    calls: int = 0
    billsec: int = 0


def _local(moment: datetime, zone: ZoneInfo) -> datetime:
    return moment.replace(tzinfo=UTC).astimezone(zone)


def _entries(session: Session, start: datetime, end: datetime):
    return session.execute(
        select(
            LedgerEntry.created_at,
            LedgerEntry.amount,
            LedgerEntry.kind,
            LedgerEntry.method,
            Customer.kind,
        )
        .join(Account, Account.id == LedgerEntry.account_id)
        .join(Customer, Customer.id == Account.customer_id)
        .where(LedgerEntry.created_at >= start, LedgerEntry.created_at < end)
    ).all()


def _records(session: Session, start: datetime, end: datetime):
    return session.execute(
        select(
            CallRecord.start_at, CallRecord.billsec, CallRecord.cost, CallRecord.disposition
        ).where(CallRecord.start_at >= start, CallRecord.start_at < end)
    ).all()


def revenue_by_period(
    session: Session, start: datetime, end: datetime, zone: ZoneInfo, *, period: str = "day"
) -> list[PeriodRevenue]:
    """One row per local day (or month) from `start` to `end` (naive UTC), empty ones too."""
    fmt = "%Y-%m-%d" if period == "day" else "%Y-%m"
    rows: dict[str, PeriodRevenue] = {}
    cursor = _local(start, zone).date()
    last = _local(end - timedelta(microseconds=1), zone).date()
    while cursor <= last:
        label = cursor.strftime(fmt)
        rows.setdefault(label, PeriodRevenue(label))
        cursor += timedelta(days=1)
    for created, amount, kind, _method, _customer_kind in _entries(session, start, end):
        row = rows.setdefault(
            _local(created, zone).strftime(fmt), PeriodRevenue(_local(created, zone).strftime(fmt))
        )
        if kind == "topup":
            row.topups += amount
            row.topup_count += 1
        elif kind == "call":
            row.call_revenue -= amount
        elif kind in ("package", "voucher"):
            row.other_spend -= amount
    for started, billsec, _cost, _disposition in _records(session, start, end):
        label = _local(started, zone).strftime(fmt)
        row = rows.setdefault(label, PeriodRevenue(label))
        row.calls += 1
        row.billsec += billsec
    return [rows[key] for key in sorted(rows)]


def topups_by_method(
    session: Session, start: datetime, end: datetime
) -> list[tuple[str, int, int]]:
    """(method, number of top-ups, total), largest total first."""
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for _created, amount, kind, method, _customer_kind in _entries(session, start, end):
        if kind == "topup":
            totals[method or "other"][0] += 1
            totals[method or "other"][1] += amount
    return sorted(((m, c, t) for m, (c, t) in totals.items()), key=lambda r: (-r[2], r[0]))


def revenue_by_customer_kind(
    session: Session, start: datetime, end: datetime
) -> list[tuple[str, int, int, int]]:
    """(customer type, top-ups, call revenue, packages and vouchers), the money spent
    counted the way revenue by day counts it."""
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for _created, amount, kind, _method, customer_kind in _entries(session, start, end):
        if kind == "topup":
            totals[customer_kind][0] += amount
        elif kind == "call":
            totals[customer_kind][1] -= amount
        elif kind in ("package", "voucher"):
            totals[customer_kind][2] -= amount
    return sorted(((k, t, c, o) for k, (t, c, o) in totals.items()), key=lambda r: r[0])


def calls_by_prefix(
    session: Session, start: datetime, end: datetime
) -> list[tuple[str, str, int, int, int]]:
    """(destination prefix, description, answered calls, billed seconds, revenue)."""
    rows = session.execute(
        select(
            CallRecord.destination_prefix,
            func.max(CallRecord.rate_description),
            func.count(CallRecord.id),
            func.coalesce(func.sum(CallRecord.billsec), 0),
            func.coalesce(func.sum(CallRecord.cost), 0),
        )
        .where(
            CallRecord.start_at >= start,
            CallRecord.start_at < end,
            CallRecord.disposition == "ANSWERED",
        )
        .group_by(CallRecord.destination_prefix)
    ).all()
    result = [
        (p if p is not None else "", d or "", int(n), int(s), int(c)) for p, d, n, s, c in rows
    ]
    return sorted(result, key=lambda r: (-r[4], r[0]))


def calls_per_hour(session: Session, day: date, zone: ZoneInfo) -> list[int]:
    """Calls started in each local hour of `day` (24 numbers)."""
    start = datetime.combine(day, datetime.min.time(), zone).astimezone(UTC).replace(tzinfo=None)
    hours = [0] * 24
    for started, *_rest in _records(session, start, start + timedelta(days=1)):
        hours[_local(started, zone).hour] += 1
    return hours


def new_customers_by_month(session: Session, months: int, zone: ZoneInfo) -> list[tuple[str, int]]:
    """(YYYY-MM, customers created) for the last `months` local months, oldest first."""
    today = datetime.now(UTC).astimezone(zone).date()
    labels = []
    year, month = today.year, today.month
    for _ in range(months):
        labels.append(f"{year:04d}-{month:02d}")
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
    labels.reverse()
    first = datetime(int(labels[0][:4]), int(labels[0][5:]), 1, tzinfo=zone)
    since = first.astimezone(UTC).replace(tzinfo=None)
    counts = dict.fromkeys(labels, 0)
    for (created,) in session.execute(
        select(Customer.created_at).where(Customer.created_at >= since)
    ):
        label = _local(created, zone).strftime("%Y-%m")
        if label in counts:
            counts[label] += 1
    return list(counts.items())


def live_calls_query() -> Select:
    """Calls authorized or answered and not yet settled, with their account and customer,
    oldest first (a statement, for a screen to read a page of it)."""
    return (
        select(Call, Account, Customer)
        .join(Account, Account.id == Call.account_id)
        .join(Customer, Customer.id == Account.customer_id)
        .where(Call.status.in_(("authorized", "answered")))
        .order_by(Call.authorized_at, Call.id)
    )


def seconds_left(call: Call, now: datetime) -> int | None:
    """What the call's holds still pay for: from answer, `paid_ms` runs; before answer the
    whole slice is still ahead (None means the call is not answered yet)."""
    if call.answered_at is None:
        return None
    end = call.answered_at + timedelta(milliseconds=call.paid_ms)
    return max(0, int((end - now).total_seconds()))


@dataclass
class Today:
    live_calls: int
    topups: int
    topup_count: int
    call_revenue: int
    pending_payments: int
    low_balance: list  # (customer id, name, account id, available), lowest first
    low_balance_count: int
    internet_active: int
    internet_expiring_today: int
    #: Hotspot users online on the enabled routers at their last successful sync (None:
    #: no router reported yet), and the oldest of those syncs.
    hotspot_online: int | None = None
    hotspot_online_at: datetime | None = None


def today_figures(
    session: Session, zone: ZoneInfo, low_balance_threshold: int, *, now: datetime | None = None
) -> Today:
    """The dashboard's figures for the operator's current day."""
    from wallet.hotspot_models import Router, Subscription
    from wallet.internet import not_over
    from wallet.payments import PaymentRequest

    moment = now or datetime.now(UTC).replace(tzinfo=None)
    day = _local(moment, zone).date()
    start = datetime.combine(day, datetime.min.time(), zone).astimezone(UTC).replace(tzinfo=None)
    end = start + timedelta(days=1)
    (row,) = revenue_by_period(session, start, end, zone) or [PeriodRevenue(str(day))]
    live = session.execute(
        select(func.count(Call.id)).where(Call.status.in_(("authorized", "answered")))
    ).scalar_one()
    pending = session.execute(
        select(func.count(PaymentRequest.id)).where(PaymentRequest.status == "pending")
    ).scalar_one()
    available = Account.balance + Account.credit_limit - Account.held
    low = (
        select(Customer.id, Customer.name, Account.id, available)
        .join(Customer, Customer.id == Account.customer_id)
        .where(Customer.status == "active", available <= low_balance_threshold)
    )
    low_count = session.execute(select(func.count()).select_from(low.subquery())).scalar_one()
    lowest = session.execute(low.order_by(available, Account.id).limit(10)).all()
    active = session.execute(
        select(func.count(Subscription.id)).where(Subscription.status == "active", not_over(moment))
    ).scalar_one()
    expiring = session.execute(
        select(func.count(Subscription.id)).where(
            Subscription.status == "active",
            Subscription.awaits_start.is_(False),  # one waiting to start does not end
            Subscription.ends_at >= max(start, moment),
            Subscription.ends_at < end,
        )
    ).scalar_one()
    online, online_at = session.execute(
        select(func.sum(Router.online_users), func.min(Router.last_contact_at)).where(
            Router.enabled.is_(True), Router.online_users.is_not(None)
        )
    ).one()
    return Today(
        live_calls=int(live),
        topups=row.topups,
        topup_count=row.topup_count,
        call_revenue=row.call_revenue,
        pending_payments=int(pending),
        low_balance=[tuple(r) for r in lowest],
        low_balance_count=int(low_count),
        internet_active=int(active),
        internet_expiring_today=int(expiring),
        hotspot_online=None if online is None else int(online),
        hotspot_online_at=online_at,
    )


def hotspot_logins_query(customer_id: int) -> Select:
    """A customer's hotspot logins, oldest first, as a statement to page through."""
    from wallet.hotspot_models import HotspotLogin

    return (
        select(HotspotLogin)
        .where(HotspotLogin.customer_id == customer_id)
        .order_by(HotspotLogin.id)
    )


@dataclass(frozen=True)
class DailySummary:
    """The staff's daily summary for the operator's day: the money taken (top-ups and
    call revenue), customers created, packages ending within `ending_within` (login
    names, soonest first, at most 20, with their number) and the enabled routers whose
    last sync failed (down, as pulsa last saw them)."""

    day: date
    topups: int
    topup_count: int
    call_revenue: int
    new_customers: int
    packages_ending: int
    ending_logins: list[tuple[str, datetime]]
    routers_down: list[str]
    pending_payments: int

    @property
    def revenue(self) -> int:
        return self.topups + self.call_revenue


def daily_summary(
    session: Session,
    zone: ZoneInfo,
    *,
    now: datetime | None = None,
    ending_within: timedelta = timedelta(hours=24),
) -> DailySummary:
    from wallet.hotspot_models import HotspotLogin, Router, Subscription
    from wallet.payments import PaymentRequest

    moment = now or datetime.now(UTC).replace(tzinfo=None)
    day = _local(moment, zone).date()
    start = datetime.combine(day, datetime.min.time(), zone).astimezone(UTC).replace(tzinfo=None)
    end = start + timedelta(days=1)
    (row,) = revenue_by_period(session, start, end, zone) or [PeriodRevenue(str(day))]
    new_customers = session.execute(
        select(func.count(Customer.id)).where(
            Customer.created_at >= start, Customer.created_at < end
        )
    ).scalar_one()
    ending = (
        Subscription.status == "active",
        Subscription.awaits_start.is_(False),
        Subscription.ends_at > moment,
        Subscription.ends_at <= moment + ending_within,
    )
    ending_count = session.execute(select(func.count(Subscription.id)).where(*ending)).scalar_one()
    ending_logins = session.execute(
        select(HotspotLogin.username, Subscription.ends_at)
        .join(HotspotLogin, HotspotLogin.id == Subscription.login_id)
        .where(*ending)
        .order_by(Subscription.ends_at, Subscription.id)
        .limit(20)
    ).all()
    down = session.execute(
        select(Router.name)
        .where(Router.enabled.is_(True), Router.last_sync_ok.is_(False))
        .order_by(Router.name)
    ).scalars()
    pending = session.execute(
        select(func.count(PaymentRequest.id)).where(PaymentRequest.status == "pending")
    ).scalar_one()
    return DailySummary(
        day=day,
        topups=row.topups,
        topup_count=row.topup_count,
        call_revenue=row.call_revenue,
        new_customers=int(new_customers),
        packages_ending=int(ending_count),
        ending_logins=[(name, ends) for name, ends in ending_logins],
        routers_down=list(down),
        pending_payments=int(pending),
    )
