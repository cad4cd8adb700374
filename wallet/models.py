"""SQLAlchemy 2.0 models: the database schema of pulsa.

Amounts are BIGINT micro-units. Every schema change here needs an Alembic revision in
migrations/versions; a test checks that models and migrations agree.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite only auto-increments INTEGER PRIMARY KEY; BIGINT ids elsewhere.
Id = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Customer(Base):
    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(40), index=True)
    email: Mapped[str | None] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20), default="individual")  # or organization
    status: Mapped[str] = mapped_column(String(20), default="active")  # pending, disabled
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=False))

    accounts: Mapped[list[Account]] = relationship(back_populates="customer")


class TariffPlan(Base):
    __tablename__ = "tariff_plans"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    # Bumped by every change of the plan's rates, bands or holidays, so that processes
    # caching the plan (the AGI) see a change on the very next call.
    revision: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=False))


class Account(Base):
    """A wallet. `balance` and `held` are caches of the ledger and the open holds,
    written only by wallet services under the account's row lock."""

    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    currency: Mapped[str] = mapped_column(String(3))
    balance: Mapped[int] = mapped_column(BigInteger, default=0)
    held: Mapped[int] = mapped_column(BigInteger, default=0)
    credit_limit: Mapped[int] = mapped_column(BigInteger, default=0)
    status: Mapped[str] = mapped_column(String(20), default="active")  # blocked, closed
    max_concurrent_calls: Mapped[int | None] = mapped_column(Integer)
    tariff_plan_id: Mapped[int | None] = mapped_column(ForeignKey("tariff_plans.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=False))

    customer: Mapped[Customer] = relationship(back_populates="accounts")

    @property
    def available(self) -> int:
        return self.balance + self.credit_limit - self.held


class LedgerEntry(Base):
    """Append-only: corrections are new entries, never edits."""

    __tablename__ = "ledger_entries"
    __table_args__ = (Index("ix_ledger_entries_account_id_id", "account_id", "id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    amount: Mapped[int] = mapped_column(BigInteger)
    balance_after: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(20))
    idempotency_key: Mapped[str] = mapped_column(String(160), unique=True)
    hold_id: Mapped[int | None] = mapped_column(ForeignKey("holds.id"), index=True)
    method: Mapped[str | None] = mapped_column(String(30))
    reference: Mapped[str | None] = mapped_column(String(200))
    note: Mapped[str | None] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(100), default="system")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=False))


class Hold(Base):
    """Credit reserved for something in progress. `amount` is everything reserved so
    far, `used` what has been debited against it; the rest is still held while open."""

    __tablename__ = "holds"
    __table_args__ = (Index("ix_holds_account_id_status", "account_id", "status"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    amount: Mapped[int] = mapped_column(BigInteger)
    used: Mapped[int] = mapped_column(BigInteger, default=0)
    status: Mapped[str] = mapped_column(String(20), default="open")  # settled released expired
    purpose: Mapped[str] = mapped_column(String(20), default="call")
    reference: Mapped[str | None] = mapped_column(String(160), index=True)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=False), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=False))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=False))

    @property
    def remaining(self) -> int:
        return self.amount - self.used


class SipIdentity(Base):
    """Maps what Asterisk tells about a caller to the account that pays."""

    __tablename__ = "sip_identities"
    __table_args__ = (UniqueConstraint("kind", "value", name="uq_sip_identities_kind_value"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))  # callerid, peer, accountcode
    value: Mapped[str] = mapped_column(String(80))


class TimeBandRow(Base):
    __tablename__ = "time_bands"
    __table_args__ = (UniqueConstraint("plan_id", "name", name="uq_time_bands_plan_id_name"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("tariff_plans.id"))
    name: Mapped[str] = mapped_column(String(40))
    days: Mapped[str] = mapped_column(String(40))  # "mon,tue,wed"
    start_seconds: Mapped[int] = mapped_column(Integer)
    end_seconds: Mapped[int] = mapped_column(Integer)
    position: Mapped[int] = mapped_column(Integer, default=0)


class HolidayRow(Base):
    __tablename__ = "holidays"
    __table_args__ = (UniqueConstraint("plan_id", "day", name="uq_holidays_plan_id_day"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("tariff_plans.id"))
    day: Mapped[date] = mapped_column(Date)
    band: Mapped[str] = mapped_column(String(40))
    name: Mapped[str | None] = mapped_column(String(100))


class RateRow(Base):
    __tablename__ = "rates"
    __table_args__ = (
        UniqueConstraint("plan_id", "prefix", "band", name="uq_rates_plan_id_prefix_band"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("tariff_plans.id"))
    prefix: Mapped[str] = mapped_column(String(20))
    band: Mapped[str] = mapped_column(String(40), default="")
    description: Mapped[str] = mapped_column(String(200), default="")
    connection_fee: Mapped[int] = mapped_column(BigInteger, default=0)
    price_per_minute: Mapped[int] = mapped_column(BigInteger)
    initial_block: Mapped[int] = mapped_column(Integer, default=60)
    increment: Mapped[int] = mapped_column(Integer, default=60)
    minimum_duration: Mapped[int] = mapped_column(Integer, default=0)
    grace: Mapped[int] = mapped_column(Integer, default=0)
    max_duration: Mapped[int | None] = mapped_column(Integer)


class CallRecord(Base):
    """One CDR per billed call, keyed by Asterisk's unique id."""

    __tablename__ = "call_records"
    __table_args__ = (
        Index("ix_call_records_account_id_start_at", "account_id", "start_at"),
        UniqueConstraint("asterisk_server", "uniqueid", name="uq_call_records_server_uniqueid"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))
    hold_id: Mapped[int | None] = mapped_column(ForeignKey("holds.id"), unique=True)
    asterisk_server: Mapped[str] = mapped_column(String(80), default="")
    uniqueid: Mapped[str] = mapped_column(String(64))
    linkedid: Mapped[str | None] = mapped_column(String(64), index=True)
    channel: Mapped[str | None] = mapped_column(String(200))
    dst_channel: Mapped[str | None] = mapped_column(String(200))
    caller: Mapped[str] = mapped_column(String(80), default="")
    caller_name: Mapped[str | None] = mapped_column(String(200))
    callee: Mapped[str] = mapped_column(String(80), default="")
    destination_prefix: Mapped[str | None] = mapped_column(String(20))
    rate_description: Mapped[str | None] = mapped_column(String(200))
    rate_band: Mapped[str | None] = mapped_column(String(40))
    price_per_minute: Mapped[int | None] = mapped_column(BigInteger)
    start_at: Mapped[datetime] = mapped_column(DateTime(timezone=False))
    answer_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=False))
    end_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=False))
    duration: Mapped[int] = mapped_column(Integer, default=0)
    billsec: Mapped[int] = mapped_column(Integer, default=0)
    charged_seconds: Mapped[int] = mapped_column(Integer, default=0)
    cost: Mapped[int] = mapped_column(BigInteger, default=0)
    disposition: Mapped[str] = mapped_column(String(20))  # ANSWERED NO ANSWER BUSY FAILED
    source: Mapped[str] = mapped_column(String(20), default="cdr")  # cdr, estimated
    #: The end was not seen (the call ended while no listener followed it): end_at is the
    #: best known, Asterisk's record or the limit Asterisk enforced.
    end_estimated: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=False))


class Call(Base):
    """A call from authorization to settlement: what the AGI decided and what the AMI
    listener follows. `paid_ms` is how long after answer the call's holds pay for (the
    limit Asterisk enforces); the admin sees live calls and their time left here."""

    __tablename__ = "calls"
    __table_args__ = (Index("ix_calls_account_id_status", "account_id", "status"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    hold_id: Mapped[int | None] = mapped_column(ForeignKey("holds.id"), unique=True)
    asterisk_server: Mapped[str] = mapped_column(String(80), default="")
    uniqueid: Mapped[str] = mapped_column(String(64), index=True)
    linkedid: Mapped[str | None] = mapped_column(String(64), index=True)
    channel: Mapped[str] = mapped_column(String(200), default="")
    caller: Mapped[str] = mapped_column(String(80), default="")
    dialled: Mapped[str] = mapped_column(String(40))
    plan_id: Mapped[int | None] = mapped_column(ForeignKey("tariff_plans.id"))
    rate_prefix: Mapped[str | None] = mapped_column(String(20))
    mode: Mapped[str] = mapped_column(String(10), default="live")  # live, static, free
    status: Mapped[str] = mapped_column(String(20), default="authorized")  # answered ended
    paid_ms: Mapped[int] = mapped_column(BigInteger, default=0)
    # How long after answer Asterisk was last told to let the call run (the dialplan's
    # first slice, then each limit it accepted); below paid_ms between a hold growing and
    # Asterisk hearing of it.
    limit_ms: Mapped[int | None] = mapped_column(BigInteger)
    # The latest Asterisk may end the call, ms after answer: Asterisk's limit <= bound_ms
    # <= paid_ms. Set at authorization to the first limit, raised before the listener
    # sends a longer limit, lowered once Asterisk accepted a shorter one. A new call on
    # the wallet may take what the hold reserves beyond it (wallet.calls.authorize_call).
    # NULL (calls from before it existed): paid_ms.
    bound_ms: Mapped[int | None] = mapped_column(BigInteger)
    debit_sequence: Mapped[int] = mapped_column(Integer, default=0)
    authorized_at: Mapped[datetime] = mapped_column(DateTime(timezone=False))
    answered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=False))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=False))
