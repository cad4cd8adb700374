"""Sign-in throttling, for staff and customers alike (a `realm` keeps them apart).

Wrong passwords are counted per (user name, client address) and per address across all
names, in the database so that every web worker and every restart sees the same counts.
After a few free tries each further failure makes the next try wait longer (doubling, up
to a cap), so that a password cannot be guessed faster than a few tries per hour; a right
password before the wait is over is refused too, without being checked. Because the
(name, address) pair is what waits, a stranger guessing from elsewhere never locks the
owner out: the owner's own address has its own count. The per-address count stops one
address from guessing many names.

`check_allowed` and `record_failure` run in the caller's transaction and lock the rows
they read, so that simultaneous tries are counted one after the other.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import DateTime, Integer, String, UniqueConstraint, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from wallet.errors import WalletError
from wallet.ledger import utcnow
from wallet.models import Base, Id
from wallet.web_sessions import CUSTOMER as CUSTOMER
from wallet.web_sessions import STAFF as STAFF

_PAIR, _ADDRESS = "pair", "address"


@dataclass(frozen=True)
class ThrottleRules:
    """How many wrong passwords are free, and how the wait grows after them."""

    free_per_name: int = 3  # per (name, address)
    free_per_address: int = 20  # per address, whatever the names
    first_wait: timedelta = timedelta(seconds=5)
    longest_wait: timedelta = timedelta(minutes=15)
    forget_after: timedelta = timedelta(days=1)  # a count this old starts again from 0

    def wait_after(self, failures: int, free: int) -> timedelta | None:
        """The wait after the `failures`-th failure in a row: none while free, then
        first_wait, doubling with each failure, up to longest_wait."""
        if failures <= free:
            return None
        doublings = min(failures - free - 1, 30)
        return min(self.first_wait * (2**doublings), self.longest_wait)


RULES = ThrottleRules()


class SignInThrottled(WalletError):
    """Too many wrong passwords: no sign-in from this address for this name before `until`."""

    def __init__(self, until: datetime) -> None:
        self.until = until
        super().__init__(f"too many failed sign-ins; try again after {until:%H:%M:%S} UTC")


class SignInThrottle(Base):
    """Wrong passwords in a row of one name from one address (scope "pair") or of one
    address for any name (scope "address", name "")."""

    __tablename__ = "sign_in_throttles"
    __table_args__ = (
        UniqueConstraint(
            "realm", "scope", "name", "address", name="uq_sign_in_throttles_realm_scope_name"
        ),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    realm: Mapped[str] = mapped_column(String(20))
    scope: Mapped[str] = mapped_column(String(10))
    name: Mapped[str] = mapped_column(String(200))
    address: Mapped[str] = mapped_column(String(64))
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failure_at: Mapped[datetime] = mapped_column(DateTime(timezone=False))
    wait_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=False))


def _keys(name: str, address: str) -> tuple[tuple[str, str, str], ...]:
    address = (address or "unknown")[:64]
    return ((_PAIR, (name or "")[:200], address), (_ADDRESS, "", address))


def check_allowed(
    session: Session, realm: str, name: str, address: str, *, now: datetime | None = None
) -> None:
    """Raise SignInThrottled while `name` from `address` (or `address` at all) must wait."""
    moment = now or utcnow()
    waits = [
        row.wait_until
        for key in _keys(name, address)
        if (row := _row(session, realm, *key)) is not None
        and row.wait_until is not None
        and row.wait_until > moment
    ]
    if waits:
        raise SignInThrottled(max(waits))


def record_failure(
    session: Session,
    realm: str,
    name: str,
    address: str,
    *,
    now: datetime | None = None,
    rules: ThrottleRules = RULES,
) -> datetime | None:
    """Count a wrong password; returns until when the next try must wait (None: no wait)."""
    moment = now or utcnow()
    waits = []
    for (scope, key_name, key_address), free in zip(
        _keys(name, address), (rules.free_per_name, rules.free_per_address), strict=True
    ):
        row = _row(session, realm, scope, key_name, key_address) or _new_row(
            session, realm, scope, key_name, key_address, moment
        )
        if moment - row.last_failure_at > rules.forget_after:
            row.failures = 0
        row.failures += 1
        row.last_failure_at = moment
        wait = rules.wait_after(row.failures, free)
        row.wait_until = moment + wait if wait else None
        if row.wait_until is not None:
            waits.append(row.wait_until)
    session.flush()
    return max(waits) if waits else None


def record_success(session: Session, realm: str, name: str, address: str) -> None:
    """A right password: the count of this name from this address starts again. The
    address's own count stays, so that knowing one password does not reset guessing others."""
    scope, key_name, key_address = _keys(name, address)[0]
    session.execute(
        delete(SignInThrottle).where(
            SignInThrottle.realm == realm,
            SignInThrottle.scope == scope,
            SignInThrottle.name == key_name,
            SignInThrottle.address == key_address,
        )
    )


def clear(session: Session, realm: str, name: str) -> int:
    """Forget every count of `name` (from any address): its owner may sign in at once."""
    result = session.execute(
        delete(SignInThrottle).where(
            SignInThrottle.realm == realm,
            SignInThrottle.scope == _PAIR,
            SignInThrottle.name == (name or "")[:200],
        )
    )
    return result.rowcount or 0


def _row(session: Session, realm: str, scope: str, name: str, address: str):
    return session.execute(
        select(SignInThrottle)
        .where(
            SignInThrottle.realm == realm,
            SignInThrottle.scope == scope,
            SignInThrottle.name == name,
            SignInThrottle.address == address,
        )
        .with_for_update()
    ).scalar_one_or_none()


def _new_row(
    session: Session, realm: str, scope: str, name: str, address: str, moment: datetime
) -> SignInThrottle:
    """A row for a first failure; when another worker made it meanwhile, that one."""
    row = SignInThrottle(
        realm=realm, scope=scope, name=name, address=address, failures=0, last_failure_at=moment
    )
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        found = _row(session, realm, scope, name, address)
        assert found is not None
        return found
    return row


def forget_old(
    session: Session, *, now: datetime | None = None, rules: ThrottleRules = RULES
) -> int:
    """Delete the counts nobody added to for `forget_after` (they would start again from
    0 anyway), so that guesses at many names do not pile up rows for ever."""
    cutoff = (now or utcnow()) - rules.forget_after
    result = session.execute(delete(SignInThrottle).where(SignInThrottle.last_failure_at < cutoff))
    return result.rowcount or 0
