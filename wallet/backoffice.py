"""What staff do from the web admin: each wallet action together with its audit record,
customer edits, and requests to hang up a live call.

Money still moves only through `wallet.ledger`; these functions add who did it (the
audit log) and the idempotency key rules of the admin's forms, in one transaction.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import DateTime, ForeignKey, String, delete, func, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from wallet import ledger, tariffs
from wallet.calls import LIVE_STATUSES
from wallet.customers import (
    _EMAIL,
    _PHONE,
    CUSTOMER_KINDS,
    CUSTOMER_STATUSES,
    add_identity,
    create_customer,
    get_customer,
)
from wallet.errors import InvalidInput, NotFound
from wallet.models import (
    Account,
    Base,
    Call,
    Customer,
    Id,
    LedgerEntry,
    RateRow,
    SipIdentity,
    TariffPlan,
)
from wallet.staff import record_audit
from wallet.text import check_text


class HangupRequest(Base):
    """An admin asked for a live call to end. The AMI listener, which owns the Asterisk
    connection, picks pending requests up and hangs the channel up; until a listener
    does, a request is only a record."""

    __tablename__ = "call_hangup_requests"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id"), index=True)
    requested_by: Mapped[str] = mapped_column(String(60))
    requested_at: Mapped[datetime] = mapped_column(DateTime(timezone=False))
    handled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=False))
    result: Mapped[str | None] = mapped_column(String(200))


def _replay_of(session: Session, key: str) -> LedgerEntry | None:
    return session.execute(
        select(LedgerEntry).where(LedgerEntry.idempotency_key == key)
    ).scalar_one_or_none()


def staff_top_up(
    session: Session,
    account_id: int,
    amount: int,
    *,
    key: str,
    method: str,
    reference: str | None,
    note: str | None,
    actor: str,
    address: str | None = None,
) -> tuple[LedgerEntry, bool]:
    """A top-up typed by staff. Returns the entry and whether it is new (False: the same
    form was submitted before and nothing more was credited)."""
    replay = _replay_of(session, key)
    entry = ledger.top_up(
        session,
        account_id,
        amount,
        key=key,
        method=method,
        reference=reference or None,
        actor=actor,
        note=note or None,
    )
    if replay is None:
        record_audit(
            session,
            actor,
            "wallet.top_up",
            f"account {account_id}",
            before={"balance": entry.balance_after - amount},
            after={"balance": entry.balance_after, "entry": entry.id, "method": method},
            address=address,
        )
    return entry, replay is None


def staff_adjust(
    session: Session,
    account_id: int,
    amount: int,
    *,
    key: str,
    reason: str,
    actor: str,
    address: str | None = None,
) -> tuple[LedgerEntry, bool]:
    replay = _replay_of(session, key)
    entry = ledger.adjust(session, account_id, amount, key=key, reason=reason, actor=actor)
    if replay is None:
        record_audit(
            session,
            actor,
            "wallet.adjust",
            f"account {account_id}",
            before={"balance": entry.balance_after - amount},
            after={"balance": entry.balance_after, "entry": entry.id, "reason": reason.strip()},
            address=address,
        )
    return entry, replay is None


def staff_transfer(
    session: Session,
    from_account_id: int,
    to_account_id: int,
    amount: int,
    *,
    key: str,
    note: str | None,
    actor: str,
    address: str | None = None,
) -> tuple[LedgerEntry, bool]:
    replay = _replay_of(session, f"{key}:out")
    out, into = ledger.transfer(
        session, from_account_id, to_account_id, amount, key=key, actor=actor, note=note or None
    )
    if replay is None:
        record_audit(
            session,
            actor,
            "wallet.transfer",
            f"account {from_account_id} -> {to_account_id}",
            before={
                "from_balance": out.balance_after + amount,
                "to_balance": into.balance_after - amount,
            },
            after={"from_balance": out.balance_after, "to_balance": into.balance_after},
            address=address,
        )
    return out, replay is None


def _customer_state(customer: Customer) -> dict:
    account = customer.accounts[0] if customer.accounts else None
    return {
        "name": customer.name,
        "phone": customer.phone,
        "email": customer.email,
        "kind": customer.kind,
        "status": customer.status,
        "credit_limit": account.credit_limit if account else None,
        "tariff_plan_id": account.tariff_plan_id if account else None,
        "account_status": account.status if account else None,
    }


#: "Leave it as it is", where None is a value of its own (no tariff plan).
KEEP = object()


def update_customer(
    session: Session,
    customer_id: int,
    *,
    actor: str,
    name: str,
    phone: str | None,
    email: str | None,
    kind: str | None = None,
    status: str | None = None,
    credit_limit: int | None = None,
    tariff_plan_id: int | object | None = KEEP,
    address: str | None = None,
) -> Customer:
    """Edit a customer and their wallet's limits. Disabling a customer also blocks new
    calls (authorization checks the customer's status). What is not given (None, or
    KEEP for the tariff plan, where None means none) stays as it is: a customer editing
    their own name, phone and e-mail in the portal changes nothing else."""
    customer = get_customer(session, customer_id)
    before = _customer_state(customer)
    kind = customer.kind if kind is None else kind
    status = customer.status if status is None else status
    name = check_text((name or "").strip(), "a name")
    if not name or len(name) > 200:
        raise InvalidInput("a customer needs a name of at most 200 characters")
    if kind not in CUSTOMER_KINDS:
        raise InvalidInput(f"kind must be one of {', '.join(CUSTOMER_KINDS)}")
    if status not in CUSTOMER_STATUSES:
        raise InvalidInput(f"status must be one of {', '.join(CUSTOMER_STATUSES)}")
    phone = check_text((phone or "").strip(), "a phone number") or None
    if phone is not None and not _PHONE.match(phone):
        raise InvalidInput(f"not a phone number: {phone!r}")
    email = check_text((email or "").strip(), "an e-mail address") or None
    if email is not None and not _EMAIL.match(email):
        raise InvalidInput(f"not an e-mail address: {email!r}")
    if credit_limit is not None and credit_limit < 0:
        raise InvalidInput("a credit limit cannot be negative")
    keep_plan = tariff_plan_id is KEEP
    plan_given = not keep_plan and tariff_plan_id is not None
    if plan_given and session.get(TariffPlan, tariff_plan_id) is None:
        raise NotFound(f"tariff plan {tariff_plan_id} does not exist")
    customer.name, customer.phone, customer.email = name, phone, email
    customer.kind, customer.status = kind, status
    if credit_limit is not None or not keep_plan:
        for account in customer.accounts:
            # The credit limit decides what may be spent: change it under the row lock.
            locked = ledger.lock_account(session, account.id)
            if credit_limit is not None:
                locked.credit_limit = credit_limit
            if not keep_plan:
                locked.tariff_plan_id = tariff_plan_id
    session.flush()
    record_audit(
        session,
        actor,
        "customer.update",
        f"customer {customer.id}",
        before=before,
        after=_customer_state(customer),
        address=address,
    )
    return customer


def set_customer_status(
    session: Session, customer_id: int, status: str, *, actor: str, address: str | None = None
) -> Customer:
    customer = get_customer(session, customer_id)
    if status not in CUSTOMER_STATUSES:
        raise InvalidInput(f"status must be one of {', '.join(CUSTOMER_STATUSES)}")
    before = customer.status
    customer.status = status
    session.flush()
    record_audit(
        session,
        actor,
        "customer.status",
        f"customer {customer.id}",
        before={"status": before},
        after={"status": status},
        address=address,
    )
    return customer


def remove_identity(
    session: Session, identity_id: int, *, actor: str, address: str | None = None
) -> None:
    identity = session.get(SipIdentity, identity_id)
    if identity is None:
        raise NotFound(f"identity {identity_id} does not exist")
    record_audit(
        session,
        actor,
        "identity.remove",
        f"account {identity.account_id}",
        before={"kind": identity.kind, "value": identity.value},
        address=address,
    )
    session.execute(delete(SipIdentity).where(SipIdentity.id == identity_id))


def request_hangup(
    session: Session, call_id: int, *, actor: str, address: str | None = None
) -> HangupRequest:
    """Ask for a live call to be hung up (see HangupRequest); asking twice keeps one."""
    call = session.get(Call, call_id)
    if call is None:
        raise NotFound(f"call {call_id} does not exist")
    if call.status not in ("authorized", "answered"):
        raise InvalidInput(f"call {call_id} is not live ({call.status})")
    pending = session.execute(
        select(HangupRequest).where(
            HangupRequest.call_id == call_id, HangupRequest.handled_at.is_(None)
        )
    ).scalar_one_or_none()
    if pending is not None:
        return pending
    request = HangupRequest(call_id=call_id, requested_by=actor, requested_at=ledger.utcnow())
    session.add(request)
    session.flush()
    record_audit(
        session,
        actor,
        "call.hangup_request",
        f"call {call_id}",
        after={"channel": call.channel},
        address=address,
    )
    return request


#: Outcomes of a hang-up request (HangupRequest.result) besides "failed: <reason>".
HANGUP_DONE = "hung up"
HANGUP_CALL_ENDED = "call already ended"
HANGUP_NOT_FOLLOWED = "no AMI listener follows the call"
_RESULT_LENGTH = 200  # HangupRequest.result
_FAILED = "failed:"  # the listener writes "failed: <what AMI answered>"


@dataclass(frozen=True, slots=True)
class PendingHangup:
    """A hang-up request an AMI listener can act on, as plain values."""

    request_id: int
    call_id: int
    requested_by: str
    requested_at: datetime


def hangup_failure(reason: str) -> str:
    """The outcome recorded when the listener could not hang a call up."""
    return f"{_FAILED} {reason}"


@dataclass(frozen=True, slots=True)
class HangupState:
    """What became of the last hang-up request of a call, for the live-calls screen."""

    requested_by: str
    requested_at: datetime
    handled_at: datetime | None
    result: str | None

    @property
    def pending(self) -> bool:
        return self.handled_at is None

    @property
    def hung_up(self) -> bool:
        return self.result == HANGUP_DONE

    @property
    def failure(self) -> str | None:
        """The listener's reason when it tried and could not hang the call up."""
        if self.result is not None and self.result.startswith(_FAILED):
            return self.result[len(_FAILED) :].strip()
        return None

    @property
    def may_ask_again(self) -> bool:
        # Only a request that was handled without hanging up: a pending one would be
        # returned as is by request_hangup, and a hung-up call is ending already.
        return not self.pending and not self.hung_up


def last_hangup_requests(session: Session, call_ids: Collection[int]) -> dict[int, HangupState]:
    """The latest hang-up request of each of `call_ids` that has one, by call id."""
    wanted = sorted(set(call_ids))
    if not wanted:
        return {}
    rows = session.execute(
        select(HangupRequest)
        .where(HangupRequest.call_id.in_(wanted))
        .order_by(HangupRequest.call_id, HangupRequest.id)
    ).scalars()
    # A call has a handful of requests at most (staff clicks), so the last one of each
    # is picked here rather than with a per-call subquery.
    return {
        request.call_id: HangupState(
            request.requested_by, request.requested_at, request.handled_at, request.result
        )
        for request in rows
    }


#: How long after its call ended a request is left to the listener that hung the call up
#: (its "hung up" is on the way) before another one closes it as "call already ended".
HANGUP_OUTCOME_GRACE = timedelta(seconds=5)


def _unhandled(session: Session) -> list[tuple[HangupRequest, str, datetime | None]]:
    # Unhandled requests are few (staff clicks, handled within seconds), so they are all
    # read and sorted out here rather than matched against thousands of followed calls.
    rows = session.execute(
        select(HangupRequest, Call.status, Call.ended_at)
        .join(Call, Call.id == HangupRequest.call_id)
        .where(HangupRequest.handled_at.is_(None))
        .order_by(HangupRequest.id)
    ).all()
    return [(request, status, ended_at) for request, status, ended_at in rows]


def pending_hangup_requests(session: Session, call_ids: Collection[int]) -> list[PendingHangup]:
    """The unhandled hang-up requests of the live calls among `call_ids` (the calls a
    listener follows and can reach), oldest first. Nothing is written."""
    wanted = set(call_ids)
    return [
        PendingHangup(request.id, request.call_id, request.requested_by, request.requested_at)
        for request, status, _ended_at in _unhandled(session)
        if request.call_id in wanted and status in LIVE_STATUSES
    ]


def close_hangup_requests_nobody_can_act_on(
    session: Session, call_ids: Collection[int], now: datetime, give_up_after: timedelta
) -> int:
    """Mark handled the requests no listener will ever act on, so that they do not pile up
    (nor keep the live-calls screen saying "hang-up requested"): those of calls that ended
    more than HANGUP_OUTCOME_GRACE ago, and those older than `give_up_after` whose call is
    not among
    `call_ids`. With several Asterisk servers a listener only knows its own calls: the
    age is what tells that no other listener followed the call either. Returns how many
    were closed."""
    followed = set(call_ids)
    closed = 0
    for request, status, ended_at in _unhandled(session):
        if status not in LIVE_STATUSES:
            # With two Asterisk servers, the other listener may have hung this call up
            # and be writing "hung up" right now: its word comes first.
            if ended_at is not None and ended_at > now - HANGUP_OUTCOME_GRACE:
                continue
            outcome = HANGUP_CALL_ENDED
        elif request.call_id not in followed and request.requested_at < now - give_up_after:
            outcome = HANGUP_NOT_FOLLOWED
        else:
            continue
        if mark_hangup_handled(session, request.id, outcome, now):
            closed += 1
    return closed


def mark_hangup_handled(session: Session, request_id: int, outcome: str, now: datetime) -> bool:
    """Record what became of a hang-up request. False when it was handled already: the
    first outcome stays (two listeners, or a listener and a sweep, may both get there)."""
    result = session.execute(
        update(HangupRequest)
        .where(HangupRequest.id == request_id, HangupRequest.handled_at.is_(None))
        .values(handled_at=now, result=outcome[:_RESULT_LENGTH])
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def account_of_customer(session: Session, customer_id: int) -> Account:
    account = (
        session.execute(
            select(Account).where(Account.customer_id == customer_id).order_by(Account.id)
        )
        .scalars()
        .first()
    )
    if account is None:
        raise NotFound(f"customer {customer_id} has no wallet")
    return account


def staff_create_customer(
    session: Session,
    *,
    actor: str,
    currency: str,
    name: str,
    phone: str | None,
    email: str | None,
    kind: str,
    credit_limit: int,
    tariff_plan: str | None,
    identities: list[tuple[str, str]],
    address: str | None = None,
    country_code: str = "",
    trunk_prefix: str = "0",
) -> tuple[Customer, Account]:
    """A customer with a wallet and the identities that pay from it, audited; caller IDs
    in their normal form for the operator's country code (see `add_identity`)."""
    customer, account = create_customer(
        session,
        name,
        currency=currency,
        phone=phone,
        email=email,
        kind=kind,
        credit_limit=credit_limit,
        tariff_plan=tariff_plan,
    )
    for kind_, value in identities:
        if value and value.strip():
            add_identity(
                session,
                account.id,
                kind_,
                value,
                country_code=country_code,
                trunk_prefix=trunk_prefix,
            )
    record_audit(
        session,
        actor,
        "customer.create",
        f"customer {customer.id}",
        after=_customer_state(customer),
        address=address,
    )
    return customer, account


def staff_add_identity(
    session: Session,
    account_id: int,
    kind: str,
    value: str,
    *,
    actor: str,
    address: str | None = None,
    country_code: str = "",
    trunk_prefix: str = "0",
) -> SipIdentity:
    identity = add_identity(
        session, account_id, kind, value, country_code=country_code, trunk_prefix=trunk_prefix
    )
    record_audit(
        session,
        actor,
        "identity.add",
        f"account {account_id}",
        after={"kind": identity.kind, "value": identity.value},
        address=address,
    )
    return identity


# --- tariffs ----------------------------------------------------------------------------


def staff_create_plan(
    session: Session, name: str, timezone: str, *, actor: str, address: str | None = None
) -> TariffPlan:
    if session.execute(select(TariffPlan.id).where(TariffPlan.name == name.strip())).first():
        raise InvalidInput(f"tariff plan {name.strip()!r} exists already")
    plan = tariffs.ensure_plan(session, name, timezone)
    record_audit(
        session,
        actor,
        "tariff.plan_create",
        f"plan {plan.name}",
        after={"timezone": plan.timezone},
        address=address,
    )
    return plan


def staff_import_rates(
    session: Session,
    plan_name: str,
    text: str,
    *,
    replace: bool,
    actor: str,
    address: str | None = None,
    precision: int = 0,
) -> int:
    """Import a tariff CSV (all or nothing), audited with the rate count before/after.
    `precision`: the currency's decimals, which decide how prices are read."""
    plan = tariffs.get_plan(session, plan_name)
    before = _rate_count(session, plan.id)
    count = tariffs.import_rates(session, plan_name, text, replace=replace, precision=precision)
    record_audit(
        session,
        actor,
        "tariff.import",
        f"plan {plan_name}",
        before={"rates": before},
        after={"rates": _rate_count(session, plan.id), "imported": count, "replace": replace},
        address=address,
    )
    return count


def _rate_count(session: Session, plan_id: int) -> int:
    return session.execute(
        select(func.count(RateRow.id)).where(RateRow.plan_id == plan_id)
    ).scalar_one()


def staff_add_band(
    session: Session,
    plan_name: str,
    name: str,
    days: str,
    start: str,
    end: str,
    *,
    actor: str,
    address: str | None = None,
) -> None:
    row = tariffs.add_band(session, plan_name, name, days, start, end)
    record_audit(
        session,
        actor,
        "tariff.band",
        f"plan {plan_name}",
        after={"band": row.name, "days": row.days, "start": start, "end": end},
        address=address,
    )


def staff_add_holiday(
    session: Session,
    plan_name: str,
    day: date,
    band: str,
    name: str,
    *,
    actor: str,
    address: str | None = None,
) -> None:
    tariffs.add_holiday(session, plan_name, day, band, name)
    record_audit(
        session,
        actor,
        "tariff.holiday",
        f"plan {plan_name}",
        after={"day": day.isoformat(), "band": band, "name": name},
        address=address,
    )
