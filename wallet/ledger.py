"""Every write to money: balances, ledger entries and holds.

Each function works inside the caller's transaction (see `Database.transaction`) and
locks the accounts it touches first, in ascending id order, so concurrent calls on one
wallet are serialized and `balance == sum(entries)` and `held == sum(open holds)` hold
at every commit. Every entry carries a unique idempotency key: replaying an operation
with the same key returns the first result instead of applying it twice.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime

from sqlalchemy import Select, bindparam, select
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value

from wallet import events, references
from wallet.db import OPTIMISTIC_KEYS, SKIPPED_KEY_LOOKUP
from wallet.errors import (
    AccountBlocked,
    HoldNotOpen,
    IdempotencyConflict,
    InsufficientFunds,
    InvalidInput,
    NotFound,
)
from wallet.models import Account, Hold, LedgerEntry

ENTRY_KINDS = ("topup", "call", "package", "voucher", "refund", "adjustment", "transfer")
TOP_UP_METHODS = ("cash", "bank_transfer", "e_wallet", "voucher", "other")
MAX_KEY_LENGTH = 160


def utcnow() -> datetime:
    """Timestamps are stored as naive UTC on every database."""
    return datetime.now(UTC).replace(tzinfo=None)


def lock_account(session: Session, account_id: int) -> Account:
    """Lock one account row for the rest of the transaction and return it, read fresh
    the first time in a transaction."""
    known = session.info.get(_LOCKED, {}).get(account_id)
    if known is not None and known[0] is session.get_transaction():
        return known[1]  # locked already in this transaction: the row cannot have moved
    account = session.execute(_LOCK_ACCOUNT, {"account_id": account_id}).scalar_one_or_none()
    if account is None:
        raise NotFound(f"account {account_id} does not exist")
    return _remember_locked(session, account)


def lock_account_found_by(
    session: Session, statement: Select, parameters: dict[str, object]
) -> Account | None:
    """`lock_account` for an account that `statement` both finds and locks (a SELECT of
    one Account ... FOR UPDATE, built like `_LOCK_ACCOUNT`): one round trip instead of a
    lookup and then the lock, on every call authorization. None when it finds none."""
    account = session.execute(statement, parameters).scalar_one_or_none()
    return None if account is None else _remember_locked(session, account)


def _remember_locked(session: Session, account: Account) -> Account:
    """Later lock_account calls in this transaction return `account` without a query."""
    session.info.setdefault(_LOCKED, {})[account.id] = (session.get_transaction(), account)
    return account


def lock_accounts(session: Session, account_ids: Iterable[int]) -> dict[int, Account]:
    """Lock several accounts, always in ascending id order, so two transfers in opposite
    directions cannot deadlock."""
    return {
        account_id: lock_account(session, account_id) for account_id in sorted(set(account_ids))
    }


def top_up(
    session: Session,
    account_id: int,
    amount: int,
    *,
    key: str,
    method: str = "cash",
    reference: str | None = None,
    actor: str = "system",
    note: str | None = None,
) -> LedgerEntry:
    """Credit money paid in (cash, bank transfer, e-wallet, voucher)."""
    _require_positive(amount)
    if method not in TOP_UP_METHODS:
        raise InvalidInput(f"unknown top-up method {method!r} (use {', '.join(TOP_UP_METHODS)})")
    return _post_once(
        session,
        account_id,
        amount,
        "topup",
        key,
        _require_not_closed,
        method=method,
        reference=reference,
        actor=actor,
        note=note,
    )


def adjust(
    session: Session, account_id: int, amount: int, *, key: str, reason: str, actor: str
) -> LedgerEntry:
    """A correction by an admin, positive or negative, always with a reason."""
    if amount == 0:
        raise InvalidInput("an adjustment must not be zero")
    if not reason or not reason.strip():
        raise InvalidInput("an adjustment needs a reason")

    def covered(account: Account) -> None:
        if amount < 0:
            _require_available(account, -amount)

    return _post_once(
        session, account_id, amount, "adjustment", key, covered, actor=actor, note=reason.strip()
    )


def spend(
    session: Session,
    account_id: int,
    amount: int,
    *,
    key: str,
    kind: str,
    reference: str | None = None,
    actor: str = "system",
    note: str | None = None,
) -> LedgerEntry:
    """Take money for something bought outright (an internet package, a voucher)."""
    _require_positive(amount)

    def payable(account: Account) -> None:
        _require_spendable(account)
        _require_available(account, amount)

    return _post_once(
        session,
        account_id,
        -amount,
        kind,
        key,
        payable,
        reference=reference,
        actor=actor,
        note=note,
    )


def refund(
    session: Session,
    account_id: int,
    amount: int,
    *,
    key: str,
    reference: str | None = None,
    actor: str = "system",
    note: str | None = None,
) -> LedgerEntry:
    _require_positive(amount)
    return _post_once(
        session,
        account_id,
        amount,
        "refund",
        key,
        None,
        reference=reference,
        actor=actor,
        note=note,
    )


def transfer(
    session: Session,
    from_account_id: int,
    to_account_id: int,
    amount: int,
    *,
    key: str,
    actor: str = "system",
    note: str | None = None,
) -> tuple[LedgerEntry, LedgerEntry]:
    """Move money between two wallets of the same currency, atomically."""
    _require_positive(amount)
    if from_account_id == to_account_id:
        raise InvalidInput("cannot transfer to the same account")
    accounts = lock_accounts(session, (from_account_id, to_account_id))
    source, target = accounts[from_account_id], accounts[to_account_id]
    if source.currency != target.currency:
        raise InvalidInput(f"currencies differ ({source.currency} and {target.currency})")
    replay = _replayed(session, f"{key}:out", source.id, -amount, "transfer")
    if replay is not None:
        return replay, _replayed(session, f"{key}:in", target.id, amount, "transfer")
    _require_spendable(source)
    _require_available(source, amount)
    _require_not_closed(target)
    out = _post(
        session,
        source,
        -amount,
        "transfer",
        f"{key}:out",
        actor=actor,
        reference=references.transfer_to(target.id),
        note=note,
    )
    into = _post(
        session,
        target,
        amount,
        "transfer",
        f"{key}:in",
        actor=actor,
        reference=references.transfer_from(source.id),
        note=note,
    )
    return out, into


def open_hold(
    session: Session,
    account_id: int,
    amount: int,
    *,
    purpose: str = "call",
    reference: str | None = None,
    expires_at: datetime | None = None,
) -> Hold:
    """Reserve `amount` of the available credit for something in progress."""
    hold_id, values = _insert_hold(session, account_id, amount, purpose, reference, expires_at)
    # The returned hold is kept exactly as if flushed.
    hold = Hold(id=hold_id, **values)
    make_transient_to_detached(hold)
    session.add(hold)
    return hold


def open_hold_id(
    session: Session,
    account_id: int,
    amount: int,
    *,
    purpose: str = "call",
    reference: str | None = None,
    expires_at: datetime | None = None,
) -> int:
    """`open_hold` for a caller that needs only the new hold's id: every call
    authorization, which would otherwise build a Hold object nothing reads."""
    return _insert_hold(session, account_id, amount, purpose, reference, expires_at)[0]


def _insert_hold(
    session: Session,
    account_id: int,
    amount: int,
    purpose: str,
    reference: str | None,
    expires_at: datetime | None,
) -> tuple[int, dict]:
    if amount < 0:
        raise InvalidInput("a hold cannot be negative")
    account = lock_account(session, account_id)
    _require_spendable(account)
    _require_available(account, amount)
    # Two plain statements, as in _post: every call authorization opens a hold. The
    # Account object is kept exactly as if flushed.
    session.flush()  # pending changes go first, in their own statements
    held = account.held + amount
    session.connection().execute(_SET_HELD, {"account_id": account.id, "held": held})
    set_committed_value(account, "held", held)
    values = {
        "account_id": account.id,
        "amount": amount,
        "used": 0,
        "status": "open",
        "purpose": purpose,
        "reference": reference,
        "expires_at": expires_at,
        "created_at": utcnow(),
        "closed_at": None,
    }
    return session.connection().execute(_INSERT_HOLD, values).scalar_one(), values


def extend_hold(
    session: Session, hold_id: int, amount: int, *, expires_at: datetime | None = None
) -> Hold:
    """Reserve more for a hold that is still open (the next slice of a call)."""
    if amount < 0:
        raise InvalidInput("a hold cannot grow by a negative amount")
    hold, account = _lock_open_hold(session, hold_id)
    _require_spendable(account)
    _require_available(account, amount)
    account.held += amount
    hold.amount += amount
    if expires_at is not None:
        hold.expires_at = expires_at
    session.flush()
    return hold


def resize_hold(session: Session, hold_id: int, amount: int) -> Hold:
    """Make an open hold reserve exactly `amount` in all (debits included): more when the
    wallet has it, less to hand credit back (never below what was already debited)."""
    hold, account = _lock_open_hold(session, hold_id)
    if amount < hold.used:
        raise InvalidInput(f"hold {hold_id} already debited {hold.used}, more than {amount}")
    change = amount - hold.amount
    if change > 0:
        _require_spendable(account)
        _require_available(account, change)
    account.held += change
    hold.amount = amount
    session.flush()
    return hold


def debit_against_hold(
    session: Session,
    hold_id: int,
    amount: int,
    *,
    key: str,
    kind: str = "call",
    reference: str | None = None,
) -> LedgerEntry:
    """Charge usage so far from what a hold reserved; what stays reserved shrinks by as
    much, so the available credit does not change."""
    _require_positive(amount)
    hold = _get_hold(session, hold_id)
    account = lock_account(session, hold.account_id)
    replay = _replayed(session, key, account.id, -amount, kind)
    if replay is not None:
        return replay
    session.refresh(hold)
    if hold.status != "open":
        raise HoldNotOpen(f"hold {hold_id} is {hold.status}")
    if amount > hold.remaining:
        raise InsufficientFunds(
            f"hold {hold_id} has {hold.remaining} left, cannot debit {amount}",
            available=hold.remaining,
            needed=amount,
        )
    hold.used += amount
    account.held -= amount
    return _post(
        session, account, -amount, kind, key, hold_id=hold.id, reference=reference or hold.reference
    )


def settle_hold(
    session: Session,
    hold_id: int,
    total: int,
    *,
    key: str,
    kind: str = "call",
    reference: str | None = None,
    at_most_payable: bool = False,
) -> LedgerEntry | None:
    """Close a hold charging `total` for the whole thing: debits already taken count
    towards it, the difference is charged now and the rest of the hold is released.
    With `at_most_payable`, `total` is first capped at what the hold and the wallet's
    available credit can pay (a call's charge never takes the wallet below its limit).

    Returns the final entry (a credit when the debits exceeded `total`), or None when
    nothing was left to charge. Replaying a settlement with the same key and total
    changes nothing.
    """
    if total < 0:
        raise InvalidInput("a total cannot be negative")
    hold = _get_hold(session, hold_id)
    account = lock_account(session, hold.account_id)
    session.refresh(hold)
    # An open hold cannot have been settled under this key: the lookup is left to the
    # unique key (Database.run looks it up on a second attempt), as `_replayed` does.
    if hold.status == "open" and session.info.get(OPTIMISTIC_KEYS):
        session.info[SKIPPED_KEY_LOOKUP] = True
        replay = None
    else:
        replay = _existing_entry(session, key)
    if replay is not None:
        _check_replay(replay, key, account.id, replay.amount, kind)
        if hold.used > total if at_most_payable else hold.used != total:
            raise IdempotencyConflict(f"key {key!r} settled hold {hold_id} for another total")
        return replay
    if at_most_payable and hold.status == "open":
        total = min(total, hold.amount + max(account.available, 0))
    final = total - hold.used
    if hold.status == "settled" and final == 0:
        return None
    if hold.status != "open":
        raise HoldNotOpen(f"hold {hold_id} is {hold.status}")
    # final < 0: the debits taken while it ran exceed the exact charge (usage debited
    # just before a hangup Asterisk had already counted); the excess is credited back.
    if final > hold.remaining:
        _require_available(account, final - hold.remaining)
    account.held -= hold.remaining
    hold.used += final
    hold.status = "settled"
    hold.closed_at = utcnow()
    if final == 0:
        session.flush()
        return None
    return _post(
        session, account, -final, kind, key, hold_id=hold.id, reference=reference or hold.reference
    )


def release_hold(session: Session, hold_id: int, *, status: str = "released") -> Hold:
    """Give back what a hold still reserves. Releasing a closed hold changes nothing."""
    hold = _get_hold(session, hold_id)
    _release_if_open(session, hold, status)
    return hold


def _release_if_open(session: Session, hold: Hold, status: str) -> bool:
    account = lock_account(session, hold.account_id)
    session.refresh(hold)
    if hold.status != "open":
        return False
    account.held -= hold.remaining
    hold.status = status
    hold.closed_at = utcnow()
    session.flush()
    return True


def expire_holds(session: Session, now: datetime | None = None) -> list[int]:
    """Release every open hold whose time is up; returns their ids."""
    moment = now or utcnow()
    due = session.execute(
        select(Hold.id, Hold.account_id)
        .where(Hold.status == "open", Hold.expires_at.is_not(None), Hold.expires_at < moment)
        .order_by(Hold.account_id, Hold.id)
    ).all()
    return [
        hold_id
        for hold_id, _account_id in due
        if _release_if_open(session, _get_hold(session, hold_id), "expired")
    ]


def _get_hold(session: Session, hold_id: int) -> Hold:
    hold = session.get(Hold, hold_id)
    if hold is None:
        raise NotFound(f"hold {hold_id} does not exist")
    return hold


def _lock_open_hold(session: Session, hold_id: int) -> tuple[Hold, Account]:
    hold = _get_hold(session, hold_id)
    account = lock_account(session, hold.account_id)
    session.refresh(hold)
    if hold.status != "open":
        raise HoldNotOpen(f"hold {hold_id} is {hold.status}")
    return hold, account


def _require_positive(amount: int) -> None:
    if not isinstance(amount, int) or isinstance(amount, bool):
        raise InvalidInput("amounts are whole micro-units")
    if amount <= 0:
        raise InvalidInput("the amount must be greater than zero")


def _require_spendable(account: Account) -> None:
    if account.status != "active":
        raise AccountBlocked(f"account {account.id} is {account.status}")


def _require_not_closed(account: Account) -> None:
    if account.status == "closed":
        raise AccountBlocked(f"account {account.id} is closed")


def _require_available(account: Account, amount: int) -> None:
    if amount > account.available:
        raise InsufficientFunds(
            f"account {account.id} has {account.available} available, needs {amount}",
            available=account.available,
            needed=amount,
        )


def _existing_entry(session: Session, key: str) -> LedgerEntry | None:
    return session.execute(
        select(LedgerEntry).where(LedgerEntry.idempotency_key == key)
    ).scalar_one_or_none()


def _check_replay(entry: LedgerEntry, key: str, account_id: int, amount: int, kind: str) -> None:
    if (entry.account_id, entry.amount, entry.kind) != (account_id, amount, kind):
        raise IdempotencyConflict(f"key {key!r} was already used for another operation")


def _replayed(
    session: Session, key: str, account_id: int, amount: int, kind: str
) -> LedgerEntry | None:
    if session.info.get(OPTIMISTIC_KEYS):
        session.info[SKIPPED_KEY_LOOKUP] = True
        return None
    entry = _existing_entry(session, key)
    if entry is not None:
        _check_replay(entry, key, account_id, amount, kind)
    return entry


def _post_once(
    session: Session,
    account_id: int,
    amount: int,
    kind: str,
    key: str,
    check: Callable[[Account], None] | None,
    **fields: object,
) -> LedgerEntry:
    """Lock the account and post one entry, unless `key` was applied before: then the
    first entry is the answer and `check` (the refusals: blocked, not enough credit) is
    not asked again, so that a retry of something that succeeded never fails."""
    account = lock_account(session, account_id)
    if (replay := _replayed(session, key, account.id, amount, kind)) is not None:
        return replay
    if check is not None:
        check(account)
    return _post(session, account, amount, kind, key, **fields)


def _post(
    session: Session,
    account: Account,
    amount: int,
    kind: str,
    key: str,
    **fields: object,
) -> LedgerEntry:
    """Append one entry and move the cached balance with it, under the account lock.

    Written as two plain statements rather than through the ORM's flush: this is the
    hottest path of pulsa and the flush machinery costs more than the database work.
    The Account object and the returned entry are kept exactly as if flushed.
    """
    if kind not in ENTRY_KINDS:
        raise InvalidInput(f"unknown entry kind {kind!r}")
    if not key or len(key) > MAX_KEY_LENGTH:
        raise InvalidInput(f"an idempotency key of 1 to {MAX_KEY_LENGTH} characters is required")
    session.flush()  # pending changes (a hold's `used`) go first, in their own statements
    balance = account.balance + amount
    session.connection().execute(_SET_BALANCE, {"account_id": account.id, "balance": balance})
    set_committed_value(account, "balance", balance)
    values = {
        **_ENTRY_DEFAULTS,
        "account_id": account.id,
        "amount": amount,
        "balance_after": balance,
        "kind": kind,
        "idempotency_key": key,
        "created_at": utcnow(),
        **fields,
    }
    entry_id = session.connection().execute(_INSERT_ENTRY, values).scalar_one()
    entry = LedgerEntry(id=entry_id, **values)
    make_transient_to_detached(entry)
    session.add(entry)
    if amount < 0:
        events.emit(
            session,
            events.BALANCE_LOWERED,
            account_id=account.id,
            before=balance - amount,
            after=balance,
            entry_id=entry_id,
        )
    return entry


_LOCKED = "pulsa.locked_accounts"

# Built once: the statements of the hot path, their values bound at execution.
_LOCK_ACCOUNT = (
    select(Account)
    .where(Account.id == bindparam("account_id"))
    .with_for_update()
    .execution_options(populate_existing=True)
)
_ACCOUNTS = Account.__table__
_ENTRIES = LedgerEntry.__table__
_SET_BALANCE = (
    _ACCOUNTS.update()
    .where(_ACCOUNTS.c.id == bindparam("account_id"))
    .values(balance=bindparam("balance"))
)
_INSERT_ENTRY = _ENTRIES.insert().returning(_ENTRIES.c.id)
_HOLDS = Hold.__table__
_SET_HELD = (
    _ACCOUNTS.update()
    .where(_ACCOUNTS.c.id == bindparam("account_id"))
    .values(held=bindparam("held"))
)
_INSERT_HOLD = _HOLDS.insert().returning(_HOLDS.c.id)
_ENTRY_DEFAULTS = {
    "hold_id": None,
    "method": None,
    "reference": None,
    "note": None,
    "actor": "system",
}
