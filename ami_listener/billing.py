"""The database side of the listener: small functions, each run in one transaction by
`Database.run` in a worker thread (never in the event loop). Money moves only through
`wallet.calls` and `wallet.ledger`; this module reads Call rows and hands them back as
plain values."""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from wallet.backoffice import (
    PendingHangup,
    close_hangup_requests_nobody_can_act_on,
    mark_hangup_handled,
    pending_hangup_requests,
)
from wallet.calls import (
    LIVE_STATUSES,
    CallPolicy,
    Share,
    TariffCache,
    answer_call,
    apply_share,
    expire_call,
    plan_shares,
    raise_bound,
    record_limits,
    settle_call,
)
from wallet.errors import WalletError
from wallet.models import Call

log = logging.getLogger("pulsa.ami")


@dataclass(frozen=True, slots=True)
class CallInfo:
    """What the listener needs to know of a Call row."""

    call_id: int
    account_id: int
    uniqueid: str
    channel: str
    status: str
    mode: str
    paid_ms: int
    answered_at: datetime | None
    asterisk_server: str
    limit_ms: int | None = None
    bound_ms: int | None = None

    @classmethod
    def of(cls, call: Call) -> CallInfo:
        return cls(
            call.id,
            call.account_id,
            call.uniqueid,
            call.channel,
            call.status,
            call.mode,
            call.paid_ms,
            call.answered_at,
            call.asterisk_server,
            call.limit_ms,
            call.bound_ms,
        )

    @property
    def live(self) -> bool:
        return self.status in LIVE_STATUSES


@dataclass(frozen=True, slots=True)
class Settled:
    call_id: int
    cost: int
    billsec: int
    disposition: str
    source: str


def find_call(
    session: Session, *, call_id: int | None = None, uniqueid: str = "", servers: Sequence[str]
) -> CallInfo | None:
    """The call a channel belongs to (see `_find`), as plain values."""
    call = _find(session, call_id, uniqueid, servers)
    return None if call is None else CallInfo.of(call)


def _find(
    session: Session, call_id: int | None, uniqueid: str, servers: Sequence[str]
) -> Call | None:
    """By PULSA_CALL when Asterisk gave it (whatever its status), else the live call
    authorized on the channel with this uniqueid (the one that ran the AGI). Only calls
    of `servers` are considered."""
    if call_id is not None:
        call = session.get(Call, call_id)
        if call is None or call.asterisk_server not in servers:
            return None
        return call
    if not uniqueid:
        return None
    return (
        session.execute(
            select(Call)
            .where(
                Call.uniqueid == uniqueid,
                Call.status.in_(LIVE_STATUSES),
                Call.asterisk_server.in_(list(servers)),
            )
            .order_by(Call.id.desc())
            .limit(1)
        )
        .scalars()
        .first()
    )


def answer_found(
    session: Session,
    *,
    call_id: int | None,
    uniqueid: str,
    servers: Sequence[str],
    at: datetime,
) -> CallInfo | None:
    """Find the call (as `_find`) and record its answer, in one transaction; None when
    the channel is not a pulsa call."""
    call = _find(session, call_id, uniqueid, servers)
    if call is None:
        return None
    if call.status in LIVE_STATUSES:
        call = answer_call(session, call.id, at)
    return CallInfo.of(call)


def live_calls(session: Session, servers: Sequence[str]) -> list[CallInfo]:
    """Every call of these servers that is authorized or answered, oldest first."""
    calls = session.execute(
        select(Call)
        .where(Call.status.in_(LIVE_STATUSES), Call.asterisk_server.in_(list(servers)))
        .order_by(Call.id)
    ).scalars()
    return [CallInfo.of(call) for call in calls]


def plan(
    session: Session,
    account_id: int,
    now: datetime,
    policy: CallPolicy,
    tariffs: TariffCache,
    leash_s: int | None = None,
) -> list[Share]:
    return plan_shares(session, account_id, now, policy, tariffs, leash_s)


def apply(
    session: Session, call_id: int, now: datetime, target_s: int, tariffs: TariffCache
) -> int:
    return apply_share(session, call_id, now, target_s, tariffs)


@dataclass(frozen=True, slots=True)
class Applied:
    """A call after `apply_all`: what its hold pays for and how far Asterisk may let it
    run (ms from answer)."""

    paid_ms: int
    bound_ms: int


def apply_all(
    session: Session,
    items: Sequence[tuple[int, int, int | None, int | None]],
    now: datetime,
    tariffs: TariffCache,
    limits: Sequence[tuple[int, int]] = (),
) -> dict[int, Applied]:
    """`apply_share` for several calls of one wallet in one transaction, in the order
    given (the shortened ones first, so that what they give back can be taken). Items are
    (call id, target s, reach s, end in ms of the shorter limit Asterisk accepted or
    None); a target of -1 only moves the call's bound to its reach (`raise_bound`). A
    call that cannot be applied (its rate is gone...) is left out and logged, without
    undoing the others. `limits` (call id, ms after answer) are the shorter
    limits Asterisk just accepted, stored with the holds they shrink."""
    applied: dict[int, Applied] = {}
    for call_id, target_s, reach_s, shortened_to_ms in items:
        try:
            with session.begin_nested():
                if target_s < 0:  # only a step further within what is paid: no money moves
                    applied[call_id] = Applied(*raise_bound(session, call_id, reach_s or 0))
                    continue
                paid = apply_share(
                    session,
                    call_id,
                    now,
                    target_s,
                    tariffs,
                    reach_s=reach_s,
                    shortened_to_ms=shortened_to_ms,
                )
                bound = session.get(Call, call_id).bound_ms
                applied[call_id] = Applied(paid, paid if bound is None else bound)
        except WalletError as error:
            log.error("call %s: cannot apply its share: %s", call_id, error)
    record_limits(session, limits)
    return applied


def answer_many(session: Session, items: Sequence[dict]) -> list[CallInfo | None]:
    """`answer_found` for several calls in one transaction (no account is locked)."""
    return [answer_found(session, **item) for item in items]


def settle_many(session: Session, items: Sequence[dict]) -> list[Settled | Exception | None]:
    """`settle` for several calls in one transaction, their wallets locked in ascending
    id order (pulsa's rule against deadlocks), each in its own savepoint: a call that
    cannot be settled gets its error back without undoing the others."""
    found = [_find(session, item["call_id"], item["uniqueid"], item["servers"]) for item in items]
    order = sorted(range(len(items)), key=lambda i: (found[i].account_id if found[i] else 0, i))
    results: list[Settled | Exception | None] = [None] * len(items)
    for index in order:
        call = found[index]
        if call is None:
            continue
        item = dict(items[index], call_id=call.id)
        try:
            with session.begin_nested():
                results[index] = settle(session, **item)
        except (WalletError, IntegrityError) as error:  # this call's own problem
            results[index] = error
    return results


def settle(
    session: Session,
    *,
    call_id: int | None,
    uniqueid: str,
    servers: Sequence[str],
    billsec: int,
    disposition: str,
    answered_at: datetime | None,
    ended_at: datetime,
    dst_channel: str | None,
    source: str,
    tariffs: TariffCache,
    end_estimated: bool = False,
) -> Settled | None:
    """Find the call (as `_find`) and settle it, in one transaction (`settle_call` charges
    once: settling again gives the first CDR back); None when it is not a pulsa call."""
    call = _find(session, call_id, uniqueid, servers)
    if call is None:
        return None
    record = settle_call(
        session,
        call.id,
        billsec=billsec,
        disposition=disposition,
        answered_at=answered_at,
        ended_at=ended_at,
        tariffs=tariffs,
        dst_channel=dst_channel or None,
        source=source,
        end_estimated=end_estimated,
    )
    return Settled(call.id, record.cost, record.billsec, record.disposition, record.source)


def expire(session: Session, call_id: int, now: datetime) -> bool:
    """A call whose channel went away while nobody watched, and that was never seen
    answered: `wallet.calls.expire_call` releases its hold (status expired, nothing
    charged). False when the call was settled or expired meanwhile."""
    return expire_call(session, call_id, now)


def hangup_requests(
    session: Session, call_ids: Collection[int], now: datetime, give_up_after: timedelta
) -> list[PendingHangup]:
    """The staff's hang-up requests for `call_ids` (the calls this listener can hang up
    now), after closing those no listener can act on, in one transaction."""
    close_hangup_requests_nobody_can_act_on(session, call_ids, now, give_up_after)
    return pending_hangup_requests(session, call_ids)


def hangup_handled(session: Session, request_id: int, outcome: str, now: datetime) -> bool:
    return mark_hangup_handled(session, request_id, outcome, now)
