"""Calls and money: authorize a call (hold its first slice), settle it (charge and CDR).

The AGI adapters and the AMI listener call these; they never touch a balance themselves.
Every second a call may run is paid for by a hold before it runs: the hold is opened under
the account's row lock, so concurrent calls on one wallet can never hold more than it has.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import Select, and_, bindparam, case, func, or_, select
from sqlalchemy.orm import Session

from rating import CallPricing, Rate, Tariff, charged_seconds
from rating.pricing import LONGEST_CALL_SECONDS
from rating.sharing import Admission, Holding, LiveCall, admit, reach, share_credit
from wallet import ledger
from wallet.errors import NotFound
from wallet.models import Account, Call, CallRecord, Customer, Hold, SipIdentity, TariffPlan
from wallet.site_settings import REFRESH_SECONDS, RuntimeSettings
from wallet.tariffs import load_tariff

OK, NOCREDIT, NORATE, BLOCKED, UNKNOWN, LIMIT, ERROR = (
    "OK",
    "NOCREDIT",
    "NORATE",
    "BLOCKED",
    "UNKNOWN",
    "LIMIT",
    "ERROR",
)
LIVE_STATUSES = ("authorized", "answered")


@dataclass(frozen=True)
class CallPolicy:
    """The operator's rules that shape an authorization (from pulsa's settings)."""

    mode: str = "live"  # live: first slice only; static: everything available
    slice_seconds: int = 60
    hold_expiry_seconds: int = 4 * 3600
    free_prefixes: tuple[str, ...] = ()
    free_call_seconds: int = 3600
    min_credit: int = 0
    max_concurrent_calls: int = 0
    default_plan: str = "default"
    renew_within_seconds: int = 20  # live calls with less than this left get a new slice
    min_seconds: int = 0  # what a call must be able to pay to get in (0: the first block)
    # On a wallet a burst could empty, Asterisk is told at most this far ahead (at answer
    # and by the listener); what a call holds beyond is room for the wallet's next calls.
    limit_ahead_seconds: int = 2

    @classmethod
    def from_settings(cls, settings) -> CallPolicy:
        return cls(
            mode=settings.call_mode_in_effect,
            slice_seconds=settings.call_slice_seconds,
            min_seconds=settings.call_min_seconds,
            limit_ahead_seconds=settings.call_limit_ahead_seconds,
            hold_expiry_seconds=settings.hold_expiry_seconds,
            free_prefixes=settings.free_prefixes,
            free_call_seconds=settings.free_call_seconds,
            min_credit=settings.min_credit_micro,
            max_concurrent_calls=settings.max_concurrent_calls,
            default_plan=settings.default_tariff_plan,
        )


class CallPolicyCache:
    """The call policy with the admin's stored slice and mode applied, re-read at most
    every `refresh_seconds` (see `wallet.site_settings.RuntimeSettings`). One per process;
    the classic AGI script, which runs once per call, reads it once."""

    def __init__(self, settings, refresh_seconds: float = REFRESH_SECONDS) -> None:
        self.site = RuntimeSettings(settings, refresh_seconds)
        # One attribute, swapped whole, so that worker threads never see a policy paired
        # with the settings of another read.
        self._built: tuple[object, CallPolicy] = (settings, CallPolicy.from_settings(settings))

    @property
    def current(self) -> CallPolicy:
        """The policy last read, without touching the database."""
        return self._built[1]

    def get(self, session: Session) -> CallPolicy:
        settings = self.site.get(session)
        source, policy = self._built
        # Rebuilt only when a read brought new settings, not on every call.
        if settings is not source:
            policy = CallPolicy.from_settings(settings)
            self._built = (settings, policy)
        return policy


@dataclass(frozen=True)
class CallRequest:
    """What Asterisk tells about a call about to be dialled."""

    identities: Sequence[tuple[str, str]]  # (kind, value) in the operator's order
    dialled: str  # normalized: digits only
    at: datetime  # aware
    uniqueid: str = ""
    linkedid: str | None = None
    channel: str = ""
    caller: str = ""
    server: str = ""


@dataclass(frozen=True)
class Authorization:
    status: str
    reason: str
    account_id: int | None = None
    call_id: int | None = None
    slice_ms: int = 0  # what the hold pays for, counted from answer
    limit_ms: int = 0  # the limit Asterisk gets at answer (whole seconds, <= slice_ms)
    max_ms: int = 0  # what the whole available credit would pay for, this call alone
    rate: Rate | None = None
    credit_left: int = 0  # available after the hold


@dataclass
class TariffCache:
    """Tariff plans loaded once per plan revision, so a change applies to the next call
    without reloading a large plan for every call. One per process, not global."""

    _plans: dict[int, tuple[int, Tariff]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, session: Session, plan_id: int, revision: int | None = None) -> Tariff:
        """The plan as it is now; pass its `revision` when already read, to save a query."""
        if revision is None:
            revision = session.execute(
                select(TariffPlan.revision).where(TariffPlan.id == plan_id)
            ).scalar_one()
        cached = self._plans.get(plan_id)
        if cached is not None and cached[0] == revision:
            return cached[1]
        tariff = load_tariff(session, plan_id)
        with self._lock:
            self._plans[plan_id] = (revision, tariff)
        return tariff


def lock_caller_account(session: Session, identities: Sequence[tuple[str, str]]) -> Account | None:
    """The account of the first identity, in the operator's order, that belongs to one,
    locked for the rest of the transaction (found and locked in one statement)."""
    wanted = [(kind, value) for kind, value in identities if value]
    if not wanted:
        return None
    parameters: dict[str, object] = {}
    for n, (kind, value) in enumerate(wanted):
        parameters[f"kind_{n}"] = kind
        parameters[f"value_{n}"] = value
    return ledger.lock_account_found_by(session, _identity_lock(len(wanted)), parameters)


def _identity_lock(count: int) -> Select:
    """SELECT the account of `(kind, value) = (:kind_0, :value_0)`, else of `:kind_1`...,
    FOR UPDATE; built once per count: building a statement costs more CPU than the
    database takes to run it."""
    query = _IDENTITY_LOCKS.get(count)
    if query is None:
        identities = SipIdentity.__table__.c
        matches = [
            and_(
                identities.kind == bindparam(f"kind_{n}"),
                identities.value == bindparam(f"value_{n}"),
            )
            for n in range(count)
        ]
        first = (
            select(identities.account_id)
            .where(or_(*matches))
            .order_by(case(*((match, n) for n, match in enumerate(matches))))
            .limit(1)
            .scalar_subquery()
        )
        query = (
            select(Account)
            .where(Account.id == first)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        _IDENTITY_LOCKS[count] = query
    return query


_IDENTITY_LOCKS: dict[int, Select] = {}


def authorize_call(
    session: Session, request: CallRequest, policy: CallPolicy, tariffs: TariffCache
) -> Authorization:
    """Decide whether a call may be dialled and open the hold that pays for its start."""
    account = lock_caller_account(session, request.identities)
    if account is None:
        shown = ", ".join(f"{k}={v}" for k, v in request.identities if v) or "nothing"
        return Authorization(UNKNOWN, f"no account for {shown}")
    account_id = account.id
    plan_id = account.tariff_plan_id or _default_plan_id(session, policy.default_plan)
    # One query for what the decision needs besides the account row, including whether
    # this channel was already authorized: a retry after a lost COMMIT reply, or the
    # classic script deciding after its relay to the FastAGI server broke off, must get
    # the first decision back instead of holding credit a second time.
    customer_status, revision, live_calls, earlier_call_id = (
        session.connection()
        .execute(
            _CALL_CONTEXT,
            {
                "customer_id": account.customer_id,
                "plan_id": plan_id,
                "account_id": account_id,
                "uniqueid": request.uniqueid or None,  # = NULL: never a match
                "server": request.server,
            },
        )
        .one()
    )
    if earlier_call_id is not None:
        return _authorized_before(session, account, earlier_call_id, tariffs)
    if account.status != "active" or customer_status != "active":
        state = account.status if account.status != "active" else f"customer {customer_status}"
        return Authorization(BLOCKED, f"account {account_id} is {state}", account_id)
    if any(request.dialled.startswith(prefix) for prefix in policy.free_prefixes):
        return _authorize_free(session, account, request, policy)
    limit = account.max_concurrent_calls or policy.max_concurrent_calls
    if limit and live_calls >= limit:
        return Authorization(LIMIT, f"account {account_id} has {live_calls} calls up", account_id)
    if plan_id is None:
        return Authorization(NORATE, f"account {account_id} has no tariff plan", account_id)
    tariff = tariffs.get(session, plan_id, revision)
    pricing = CallPricing.for_call(tariff, request.dialled, request.at)
    if pricing is None:
        return Authorization(NORATE, f"no rate for {request.dialled}", account_id)
    rate = pricing.rate
    available = account.available
    # The first billable block, or the operator's minimum when longer.
    minimum = charged_seconds(rate, max(1, rate.grace, policy.min_seconds))
    whole = pricing.max_duration(available)
    refused = Authorization(
        NOCREDIT,
        f"account {account_id} has {available} available",
        account_id,
        rate=rate,
        credit_left=available,
    )
    if available < policy.min_credit:
        return refused
    if policy.mode == "static":
        if pricing.cost(minimum) > available:
            return refused
        seconds = limit = whole
        amount = pricing.cost(seconds)
    else:
        admission = _admit(session, account_id, pricing, available, live_calls, policy, tariffs)
        if admission is None:
            return refused
        seconds, amount, limit = admission.seconds, admission.amount, admission.limit
    # Invariant 5: exactly what the hold pays for; `seconds` costs `amount`, so it fits.
    paid = pricing.max_duration(amount, at_least=seconds)
    hold_id = ledger.open_hold_id(
        session,
        account.id,
        amount,
        purpose="call",
        reference=request.uniqueid or None,
        expires_at=_expiry(request.at, policy, paid),
    )
    call_id = _record_call(
        session, account, hold_id, request, plan_id, rate.prefix, policy.mode, paid, limit
    )
    return Authorization(
        OK,
        f"{policy.mode} slice {paid}s (limit {limit}s) of {whole}s at {rate.prefix or '*'}",
        account.id,
        call_id,
        slice_ms=paid * 1000,
        max_ms=max(whole, paid) * 1000,
        limit_ms=limit * 1000,
        rate=rate,
        credit_left=account.available,
    )


_CALLS = Call.__table__.c
_INSERT_CALL = Call.__table__.insert().returning(_CALLS.id)
# `status IN (...)` with a literal list is an "expanding" parameter that SQLAlchemy
# re-renders on every execution; these equalities are compiled once.
_CALL_IS_LIVE = or_(*(_CALLS.status == status for status in LIVE_STATUSES))
# Built once (as in wallet/ledger.py): authorize_call's question besides the account row.
_CALL_CONTEXT = select(
    Customer.__table__.c.status,
    select(TariffPlan.__table__.c.revision)
    .where(TariffPlan.__table__.c.id == bindparam("plan_id"))
    .scalar_subquery(),
    select(func.count(_CALLS.id))
    .where(_CALLS.account_id == bindparam("account_id"), _CALL_IS_LIVE)
    .scalar_subquery(),
    select(func.max(_CALLS.id))
    .where(
        _CALLS.account_id == bindparam("account_id"),
        _CALL_IS_LIVE,
        _CALLS.uniqueid == bindparam("uniqueid"),
        _CALLS.asterisk_server == bindparam("server"),
    )
    .scalar_subquery(),
).where(Customer.__table__.c.id == bindparam("customer_id"))


def _admit(
    session: Session,
    account_id: int,
    pricing: CallPricing,
    available: int,
    live_calls: int,
    policy: CallPolicy,
    tariffs: TariffCache,
) -> Admission | None:
    """rating.sharing.admit with the wallet's live holds: what a new call holds and its
    first limit, or None (NOCREDIT). The live holds it takes from are shrunk here, never
    below what pays for the limit Asterisk may already enforce for their call (bound_ms):
    so no call can run longer than its hold pays for (invariant 6)."""
    live = _live_holdings(session, account_id, tariffs) if live_calls else []
    admission = admit(
        pricing.cost,
        pricing.max_duration,
        available,
        [holding for _, _, _, holding in live],
        minimum=charged_seconds(pricing.rate, max(1, pricing.rate.grace, policy.min_seconds)),
        first_limit=policy.limit_ahead_seconds,
        slice_seconds=max(policy.slice_seconds, pricing.rate.initial_block),
    )
    if admission is None:
        return None
    for (call_id, hold_id, call_pricing, holding), amount in zip(
        live, admission.holdings, strict=True
    ):
        if amount != holding.amount:
            ledger.resize_hold(session, hold_id, amount)
            paid_ms = call_pricing.max_duration(amount) * 1000
            session.connection().execute(
                _CALL_PAID.values(paid_ms=paid_ms).where(_CALLS.id == call_id)
            )
    return admission


def _live_holdings(
    session: Session, account_id: int, tariffs: TariffCache
) -> list[tuple[int, int, CallPricing, Holding]]:
    """(call id, hold id, pricing, holding) of the wallet's live calls in live mode: what
    each hold reserves and what it must keep, the cost of the latest moment Asterisk may
    end the call (or what it used, when more). A call whose rate is gone is left out."""
    rows = session.execute(_LIVE_HOLDINGS, {"account_id": account_id}).all()
    plans: dict[int, Tariff] = {}
    found = []
    for row in rows:
        tariff = plans.get(row.plan_id)
        if tariff is None:
            tariff = plans[row.plan_id] = tariffs.get(session, row.plan_id)
        moment = (row.answered_at or row.authorized_at).replace(tzinfo=UTC)
        call_pricing = CallPricing.for_call(tariff, row.dialled, moment)
        if call_pricing is None:
            continue  # its rate is gone: it keeps all it holds
        bound_ms = row.paid_ms if row.bound_ms is None else min(row.bound_ms, row.paid_ms)
        keep = min(max(row.used, call_pricing.cost(-(-bound_ms // 1000))), row.amount)
        found.append((row.id, row.hold_id, call_pricing, Holding(row.amount, keep, row.used)))
    return found


_HOLDS = Hold.__table__.c
_CALL_PAID = Call.__table__.update()
_LIVE_HOLDINGS = (
    select(
        _CALLS.id,
        _CALLS.hold_id,
        _CALLS.plan_id,
        _CALLS.dialled,
        _CALLS.answered_at,
        _CALLS.authorized_at,
        _CALLS.paid_ms,
        _CALLS.bound_ms,
        _HOLDS.amount,
        _HOLDS.used,
    )
    .join(Hold.__table__, _HOLDS.id == _CALLS.hold_id)
    .where(
        _CALLS.account_id == bindparam("account_id"),
        _CALL_IS_LIVE,
        _CALLS.mode == "live",
        _CALLS.plan_id.is_not(None),
        _HOLDS.status == "open",
    )
    .order_by(_CALLS.id)
)


def settle_call(
    session: Session,
    call_id: int,
    *,
    billsec: int,
    disposition: str,
    answered_at: datetime | None = None,
    ended_at: datetime | None = None,
    tariffs: TariffCache | None = None,
    dst_channel: str | None = None,
    source: str = "cdr",
    end_estimated: bool = False,
) -> CallRecord:
    """Charge a finished call exactly once and write its CDR (`end_estimated`: its end was
    not seen, `ended_at` is the best known).

    The cost is `rating`'s cost of the billable seconds from the moment of answer, capped
    at what the hold and the wallet can pay (a call never runs past its holds, so the cap
    only matters if Asterisk was told otherwise). Unanswered calls cost nothing. Settling
    the same call again returns the first CDR and charges nothing more.
    """
    call = session.get(Call, call_id)
    if call is None:
        raise NotFound(f"call {call_id} does not exist")
    ledger.lock_account(session, call.account_id)
    session.refresh(call)
    # Its record is written with the status change, under the same lock: a live call
    # has none yet.
    if call.status not in LIVE_STATUSES:
        existing = session.execute(
            select(CallRecord).where(CallRecord.hold_id == call.hold_id)
        ).scalar_one_or_none()
        if existing is not None:
            return existing
    answered = disposition == "ANSWERED" and billsec > 0
    cost, charged, rate = 0, 0, None
    answer_moment = answered_at or call.answered_at or call.authorized_at
    if answered and call.mode != "free" and call.plan_id is not None:
        tariff = (tariffs or TariffCache()).get(session, call.plan_id)
        pricing = CallPricing.for_call(tariff, call.dialled, answer_moment.replace(tzinfo=UTC))
        if pricing is not None:
            rate = pricing.rate
            cost = pricing.cost(billsec)
            charged = charged_seconds(rate, billsec)
    hold = session.get(Hold, call.hold_id) if call.hold_id else None
    if hold is not None:
        key = f"call:{call.id}:settle"
        ledger.settle_hold(session, hold.id, cost, key=key, at_most_payable=True)
        cost = hold.used  # what the hold and the wallet could pay of it
    now = ledger.utcnow()
    call.status = "settled"
    call.ended_at = ended_at or now
    if answered and call.answered_at is None:
        call.answered_at = answer_moment
    record = CallRecord(
        account_id=call.account_id,
        hold_id=call.hold_id,
        asterisk_server=call.asterisk_server,
        uniqueid=call.uniqueid or f"pulsa-{call.id}",
        linkedid=call.linkedid,
        channel=call.channel,
        dst_channel=dst_channel,
        caller=call.caller,
        callee=call.dialled,
        destination_prefix=rate.prefix if rate else call.rate_prefix,
        rate_description=rate.description if rate else None,
        rate_band=rate.band if rate else None,
        price_per_minute=rate.price_per_minute if rate else None,
        start_at=call.authorized_at,
        answer_at=answer_moment if answered else None,
        end_at=call.ended_at,
        duration=int(((ended_at or now) - call.authorized_at).total_seconds()),
        billsec=billsec if answered else 0,
        charged_seconds=charged,
        cost=cost,
        disposition=disposition,
        source=source,
        end_estimated=end_estimated,
        created_at=now,
    )
    session.add(record)
    session.flush()
    return record


def _authorized_before(
    session: Session, account: Account, call_id: int, tariffs: TariffCache
) -> Authorization:
    """The decision already taken for this channel, as it stands now."""
    call = session.get(Call, call_id)
    assert call is not None
    rate = None
    if call.plan_id is not None:
        tariff = tariffs.get(session, call.plan_id)
        at = call.authorized_at.replace(tzinfo=UTC)
        pricing = CallPricing.for_call(tariff, call.dialled, at)
        rate = pricing.rate if pricing is not None else None
    return Authorization(
        OK,
        f"{call.mode} call {call.id} already authorized for this channel",
        account.id,
        call.id,
        slice_ms=call.paid_ms,
        max_ms=call.paid_ms,
        limit_ms=call.paid_ms if call.bound_ms is None else min(call.bound_ms, call.paid_ms),
        rate=rate,
        credit_left=account.available,
    )


def _authorize_free(
    session: Session, account: Account, request: CallRequest, policy: CallPolicy
) -> Authorization:
    seconds = policy.free_call_seconds
    hold_id = ledger.open_hold_id(
        session,
        account.id,
        0,
        purpose="call",
        reference=request.uniqueid or None,
        expires_at=_expiry(request.at, policy, seconds),
    )
    call_id = _record_call(session, account, hold_id, request, None, None, "free", seconds)
    return Authorization(
        OK,
        f"free destination {request.dialled}",
        account.id,
        call_id,
        slice_ms=seconds * 1000,
        max_ms=seconds * 1000,
        credit_left=account.available,
    )


def _record_call(
    session: Session,
    account: Account,
    hold_id: int,
    request: CallRequest,
    plan_id: int | None,
    prefix: str | None,
    mode: str,
    paid_seconds: int,
    limit_seconds: int | None = None,
) -> int:
    """The new call's id. One plain INSERT rather than an ORM object and a flush: it is on
    every authorization, and nothing in the transaction reads the row back."""
    values = {
        "account_id": account.id,
        "hold_id": hold_id,
        "asterisk_server": request.server,
        "uniqueid": request.uniqueid,
        "linkedid": request.linkedid,
        "channel": request.channel,
        "caller": request.caller,
        "dialled": request.dialled,
        "plan_id": plan_id,
        "rate_prefix": prefix,
        "mode": mode,
        "status": "authorized",
        "paid_ms": paid_seconds * 1000,
        # The dialplan gives Asterisk this limit at answer: the bound until the listener's.
        "bound_ms": (paid_seconds if limit_seconds is None else limit_seconds) * 1000,
        "limit_ms": None,
        "debit_sequence": 0,
        "authorized_at": request.at.astimezone(UTC).replace(tzinfo=None),
        "answered_at": None,
        "ended_at": None,
    }
    return session.connection().execute(_INSERT_CALL, values).scalar_one()


def _default_plan_id(session: Session, name: str) -> int | None:
    return session.execute(
        select(TariffPlan.id).where(TariffPlan.name == name)
    ).scalar_one_or_none()


def _expiry(at: datetime, policy: CallPolicy, paid_seconds: int) -> datetime:
    # Long enough for the listener (or the hangup AGI) to settle the call after an
    # outage; an expired hold is released, never charged.
    moment = at.astimezone(UTC).replace(tzinfo=None)
    return moment + timedelta(seconds=max(policy.hold_expiry_seconds, paid_seconds + 3600))


def expire_calls(session: Session, now: datetime | None = None) -> list[int]:
    """Release the holds whose time is up and mark their calls expired (never charged);
    returns the ids of those calls so the admin can look at them."""
    hold_ids = ledger.expire_holds(session, now)
    if not hold_ids:
        return []
    calls = session.execute(select(Call).where(Call.hold_id.in_(hold_ids))).scalars().all()
    for call in calls:
        call.status = "expired"
        call.ended_at = call.ended_at or ledger.utcnow()
    session.flush()
    return [call.id for call in calls]


def expire_call(session: Session, call_id: int, now: datetime) -> bool:
    """A call that ended without anyone able to tell how long it talked (its channel went
    away while the AMI listener was not connected, never seen answered): release its hold
    and mark it expired, charging nothing. False when the call was settled or expired
    meanwhile, so a second attempt changes nothing."""
    call = session.get(Call, call_id)
    if call is None:
        return False
    ledger.lock_account(session, call.account_id)
    # Read again under the wallet's lock: a settlement may have committed since the get.
    session.refresh(call)
    if call.status not in LIVE_STATUSES:
        return False
    if call.hold_id is not None:
        ledger.release_hold(session, call.hold_id, status="expired")
    call.status = "expired"
    call.ended_at = call.ended_at or now
    session.flush()
    return True


@dataclass(frozen=True)
class Share:
    """What sharing a wallet decided for one live call (seconds counted from answer)."""

    call_id: int
    elapsed_s: int
    paid_s: int  # what its holds pay for now
    target_s: int  # what they should pay for after the sharing
    bound_ms: int = 0  # the latest Asterisk may end it now (Call.bound_ms)
    reach_s: int | None = None  # how far Asterisk should let it run after (None: target_s)

    @property
    def shorter_limit_ms(self) -> int:
        """The end (ms from answer) of a shorter limit to send before its hold shrinks:
        never past its bound, since what is held beyond that may be gone to another call."""
        reach = self.target_s if self.reach_s is None else self.reach_s
        return min(reach * 1000, self.bound_ms or self.paid_s * 1000)

    @property
    def shortens(self) -> bool:
        return self.target_s < self.paid_s


def answer_call(session: Session, call_id: int, answered_at: datetime) -> Call:
    """Record the moment of answer (naive UTC); the first one seen wins."""
    call = _get_call(session, call_id)
    if call.answered_at is None and call.status == "authorized":
        call.answered_at = answered_at
        call.status = "answered"
        # The dialplan sets the first limit, in whole seconds, as the call is answered.
        first = call.paid_ms if call.bound_ms is None else min(call.bound_ms, call.paid_ms)
        call.limit_ms = first // 1000 * 1000
        session.flush()
    return call


def record_limits(session: Session, limits: Iterable[tuple[int, int]]) -> None:
    """Remember the limits Asterisk accepted, (call id, ms after answer), each no longer
    than what its call has paid; calls no longer live are left as they are."""
    for call_id, limit_ms in limits:
        call = _get_call(session, call_id)
        if call.status in LIVE_STATUSES:
            call.limit_ms = max(0, min(limit_ms, call.paid_ms))
    session.flush()


def plan_shares(
    session: Session,
    account_id: int,
    now: datetime,
    policy: CallPolicy,
    tariffs: TariffCache,
    leash_s: int | None = None,
) -> list[Share]:
    """Share a wallet between its live answered calls (rating.sharing): full slices when
    it can pay one for every call, otherwise an end moment common to all of them. With
    `leash_s`, Asterisk is to let a call run at most that far ahead (`rating.sharing.reach`).

    Nothing is written. Apply the plan with `apply_share`: shortened calls only after
    Asterisk has shortened them, lengthened calls before Asterisk is told.
    """
    account = ledger.lock_account(session, account_id)
    calls = (
        session.execute(
            select(Call)
            .where(Call.account_id == account_id, Call.status == "answered", Call.mode == "live")
            .order_by(Call.id)
        )
        .scalars()
        .all()
    )
    if not calls:
        return []
    live: list[LiveCall] = []
    pool = account.available
    for call in calls:
        pricing = _pricing(session, call, tariffs)
        hold = session.get(Hold, call.hold_id)
        paid = call.paid_ms // 1000
        elapsed = min(_elapsed(call, now), paid)
        pool += hold.amount - pricing.cost(elapsed)
        cap = min(pricing.rate.max_duration or LONGEST_CALL_SECONDS, LONGEST_CALL_SECONDS)
        live.append(LiveCall(pricing.cost, elapsed, paid, pricing.rate.increment, max(cap, paid)))
    targets = share_credit(live, pool, policy.slice_seconds, policy.renew_within_seconds)
    reaches = (
        targets if leash_s is None else reach(live, targets, pool, policy.slice_seconds, leash_s)
    )
    return [
        Share(call.id, one.elapsed, one.paid, target, _bound_ms(call), far)
        for call, one, target, far in zip(calls, live, targets, reaches, strict=True)
    ]


def _bound_ms(call: Call) -> int:
    return call.paid_ms if call.bound_ms is None else min(call.bound_ms, call.paid_ms)


def apply_share(
    session: Session,
    call_id: int,
    now: datetime,
    target_s: int,
    tariffs: TariffCache,
    *,
    reach_s: int | None = None,
    shortened_to_ms: int | None = None,
) -> int:
    """Debit a live call's usage so far, then make its hold pay exactly for `target_s`
    seconds from answer (less when the wallet has less). Returns what the hold now pays
    for, in ms from answer. Shrink only after Asterisk enforces the shorter limit.

    Its bound (Call.bound_ms) goes to `reach_s` (default: all it pays for); it is never
    lowered unless `shortened_to_ms`, the end of the shorter limit Asterisk just accepted,
    says it may. Tell Asterisk no more than the bound."""
    call = _get_call(session, call_id)
    account = ledger.lock_account(session, call.account_id)
    session.refresh(call)
    if call.status != "answered" or call.hold_id is None:
        return call.paid_ms
    hold = session.get(Hold, call.hold_id)
    session.refresh(hold)
    pricing = _pricing(session, call, tariffs)
    elapsed = min(_elapsed(call, now), call.paid_ms // 1000)
    due = pricing.cost(elapsed) - hold.used
    if due > 0:
        call.debit_sequence += 1
        ledger.debit_against_hold(
            session, hold.id, due, key=f"call:{call.id}:debit:{call.debit_sequence}"
        )
    wanted = max(pricing.cost(max(target_s, elapsed)), hold.used)
    affordable = hold.amount + max(account.available, 0)
    amount = min(wanted, affordable)
    if amount != hold.amount:
        ledger.resize_hold(session, hold.id, amount)
    paid = pricing.max_duration(amount)
    bound = _bound_ms(call)
    call.paid_ms = paid * 1000
    wanted = call.paid_ms if reach_s is None else reach_s * 1000
    if shortened_to_ms is not None:
        # Asterisk accepted a limit ending no later than shortened_to_ms: the bound may
        # come down to it, and go as far as `reach_s` again for the listener to tell it.
        call.bound_ms = min(max(shortened_to_ms, wanted), call.paid_ms)
    else:
        # Never below the bound: no new call took what pays for it, so paid covers it.
        call.bound_ms = max(bound, min(wanted, call.paid_ms))
    # A long call must not outlive its hold: keep the expiry an hour past its paid end.
    expiry = (call.answered_at or now) + timedelta(seconds=paid + 3600)
    if hold.expires_at is not None and hold.expires_at < expiry:
        hold.expires_at = expiry
    session.flush()
    return call.paid_ms


def raise_bound(session: Session, call_id: int, reach_s: int) -> tuple[int, int]:
    """Let Asterisk be told a live call may run up to `reach_s` seconds from answer, within
    what its hold pays for already: no money moves. Under the wallet's lock, so that a new
    call cannot take what pays for it at the same moment. Returns (paid_ms, bound_ms)."""
    call = _get_call(session, call_id)
    ledger.lock_account(session, call.account_id)
    session.refresh(call)
    bound = _bound_ms(call)
    if call.status == "answered":
        bound = max(bound, min(reach_s * 1000, call.paid_ms))
        call.bound_ms = bound
        session.flush()
    return call.paid_ms, bound


def _get_call(session: Session, call_id: int) -> Call:
    call = session.get(Call, call_id)
    if call is None:
        raise NotFound(f"call {call_id} does not exist")
    return call


def _elapsed(call: Call, now: datetime) -> int:
    if call.answered_at is None:
        return 0
    return max(0, int((now - call.answered_at).total_seconds()))


def _pricing(session: Session, call: Call, tariffs: TariffCache) -> CallPricing:
    tariff = tariffs.get(session, call.plan_id)
    moment = (call.answered_at or call.authorized_at).replace(tzinfo=UTC)
    pricing = CallPricing.for_call(tariff, call.dialled, moment)
    if pricing is None:
        raise NotFound(f"call {call.id}: no rate for {call.dialled} any more")
    return pricing
