"""Tables of the internet side: routers, packages, hotspot logins, subscriptions, vouchers.

The database is the source of truth for what every router should hold; the reconciler
(`hotspot.reconciler`) reads these rows and brings the routers in line. Money moves only
through `wallet.ledger`, called by the services in `wallet.internet` and
`wallet.vouchers`; these rows record what the money bought.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from wallet.models import Base, Customer, Id

package_routers = Table(
    "internet_package_routers",
    Base.metadata,
    Column("package_id", Id, ForeignKey("internet_packages.id"), primary_key=True),
    Column("router_id", Id, ForeignKey("routers.id"), primary_key=True),
)


class Router(Base):
    """A MikroTik router pulsa provisions. The API password is stored Fernet-encrypted
    with PULSA_ROUTER_KEY, so a copy of the database alone does not open the routers."""

    __tablename__ = "routers"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    host: Mapped[str] = mapped_column(String(255))
    api_port: Mapped[int] = mapped_column(Integer, default=8728)
    use_tls: Mapped[bool] = mapped_column(Boolean, default=False)
    tls_verify: Mapped[bool] = mapped_column(Boolean, default=True)
    username: Mapped[str] = mapped_column(String(100))
    password_encrypted: Mapped[str] = mapped_column(Text)
    hotspot_server: Mapped[str] = mapped_column(String(80), default="all")
    login_url: Mapped[str | None] = mapped_column(String(255))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    last_sync_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=False))
    last_sync_ok: Mapped[bool | None] = mapped_column(Boolean)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_contact_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=False))
    #: The first failed pass after the last good one (None while the router answers):
    #: what "unreachable since" says to the admin and the customer.
    unreachable_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=False))
    #: Hotspot users online at the last successful sync (the dashboard's figure).
    online_users: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=False))


class InternetPackage(Base):
    """What a customer buys: a price, a validity kept by pulsa, quotas and a speed
    enforced by RouterOS through the user profile `profile_name` and per-user limits."""

    __tablename__ = "internet_packages"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    profile_name: Mapped[str] = mapped_column(String(64), unique=True)
    description: Mapped[str] = mapped_column(String(500), default="")
    price: Mapped[int] = mapped_column(BigInteger)
    validity_value: Mapped[int] = mapped_column(Integer)
    validity_unit: Mapped[str] = mapped_column(String(10))  # minutes hours days months
    limit_uptime: Mapped[int | None] = mapped_column(Integer)  # seconds online in total
    limit_bytes_total: Mapped[int | None] = mapped_column(BigInteger)
    rate_limit: Mapped[str | None] = mapped_column(String(120))  # RouterOS text, rx/tx
    shared_users: Mapped[int | None] = mapped_column(Integer)  # None: unlimited
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=False))

    routers: Mapped[list[Router]] = relationship(secondary=package_routers, order_by=Router.id)


class HotspotLogin(Base):
    """A username on the hotspot: a customer's own login, or a voucher's.

    `username_key` is the name case-folded and Punycode-encoded: ASCII, so the unique
    index means the same thing on every database (MariaDB's default collation would
    otherwise also treat "josé" and "jose" as one name while PostgreSQL would not).
    The password is kept readable because it is pushed to routers and printed on
    vouchers; it is an access code, not an admin credential.
    """

    __tablename__ = "hotspot_logins"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    username: Mapped[str] = mapped_column(String(64))
    username_key: Mapped[str] = mapped_column(String(160), unique=True)
    password: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(10), default="customer")  # or voucher
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)
    package_id: Mapped[int | None] = mapped_column(ForeignKey("internet_packages.id"))
    status: Mapped[str] = mapped_column(String(10), default="active")  # pending disabled void
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=False))

    customer: Mapped[Customer | None] = relationship()
    package: Mapped[InternetPackage | None] = relationship()


class Subscription(Base):
    """A package bought for a login, valid from `starts_at` to `ends_at` (UTC).

    `purchase_key` is the idempotency key of the purchase: the same key never buys
    twice. A purchase made while another subscription runs starts when that one ends.
    `status` is "active" until the expiry job marks it "expired" (or an admin
    "cancelled" it); whether it is current is a matter of the clock.

    A purchase that follows nothing running `awaits_start`: its validity starts when a
    router first holds it (or at its first login, see `wallet.internet.START_MODES`).
    Until then `starts_at` and `ends_at` are what they would be had it started when it
    was bought, and they move when it starts (with the purchases queued behind it);
    it never expires while it waits. `on_router_at` is when a router first held it.
    """

    __tablename__ = "internet_subscriptions"
    __table_args__ = (
        Index("ix_internet_subscriptions_login_id_ends_at", "login_id", "ends_at"),
        Index("ix_internet_subscriptions_status_ends_at", "status", "ends_at"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    login_id: Mapped[int] = mapped_column(ForeignKey("hotspot_logins.id"))
    package_id: Mapped[int] = mapped_column(ForeignKey("internet_packages.id"))
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"), index=True)
    voucher_id: Mapped[int | None] = mapped_column(ForeignKey("vouchers.id"), unique=True)
    ledger_entry_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_entries.id"))
    purchase_key: Mapped[str] = mapped_column(String(160), unique=True)
    price: Mapped[int] = mapped_column(BigInteger, default=0)
    status: Mapped[str] = mapped_column(String(10), default="active")
    starts_at: Mapped[datetime] = mapped_column(DateTime(timezone=False))
    ends_at: Mapped[datetime] = mapped_column(DateTime(timezone=False))
    limit_uptime: Mapped[int | None] = mapped_column(Integer)
    limit_bytes_total: Mapped[int | None] = mapped_column(BigInteger)
    auto_renew: Mapped[bool] = mapped_column(Boolean, default=False)
    renewed_from_id: Mapped[int | None] = mapped_column(
        ForeignKey("internet_subscriptions.id"), unique=True
    )
    provisioned_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=False))
    awaits_start: Mapped[bool] = mapped_column(Boolean, default=False)
    on_router_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=False))
    expired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=False))
    actor: Mapped[str] = mapped_column(String(100), default="system")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=False))

    login: Mapped[HotspotLogin] = relationship()
    package: Mapped[InternetPackage] = relationship()


class SubscriptionExtension(Base):
    """One extension of a subscription: who added how many days, why, and what it cost."""

    __tablename__ = "internet_extensions"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    subscription_id: Mapped[int] = mapped_column(
        ForeignKey("internet_subscriptions.id"), index=True
    )
    days: Mapped[int] = mapped_column(Integer)
    price: Mapped[int] = mapped_column(BigInteger, default=0)
    reason: Mapped[str] = mapped_column(String(200), default="")
    extension_key: Mapped[str] = mapped_column(String(160), unique=True)
    ledger_entry_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_entries.id"))
    old_ends_at: Mapped[datetime] = mapped_column(DateTime(timezone=False))
    new_ends_at: Mapped[datetime] = mapped_column(DateTime(timezone=False))
    actor: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=False))


class VoucherBatch(Base):
    """Vouchers generated together. `price` is the face value: what a voucher sells
    for, and what it credits when redeemed into a wallet instead of used online."""

    __tablename__ = "voucher_batches"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    package_id: Mapped[int | None] = mapped_column(ForeignKey("internet_packages.id"))
    price: Mapped[int] = mapped_column(BigInteger)
    count: Mapped[int] = mapped_column(Integer)
    prefix: Mapped[str] = mapped_column(String(16), default="")
    code_length: Mapped[int] = mapped_column(Integer)
    alphabet: Mapped[str] = mapped_column(String(10))
    separate_password: Mapped[bool] = mapped_column(Boolean, default=False)
    note: Mapped[str] = mapped_column(String(200), default="")
    actor: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=False))

    package: Mapped[InternetPackage | None] = relationship()


class Voucher(Base):
    """One printed voucher. `code` is what the person types as the username (and as
    the password too unless the batch has separate passwords).

    status: new (printed), sold, used (seen online: its validity runs), redeemed
    (turned into wallet credit), void.
    """

    __tablename__ = "vouchers"
    __table_args__ = (Index("ix_vouchers_batch_id_status", "batch_id", "status"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("voucher_batches.id"))
    code: Mapped[str] = mapped_column(String(64), unique=True)
    password: Mapped[str] = mapped_column(String(64))
    login_id: Mapped[int | None] = mapped_column(ForeignKey("hotspot_logins.id"), unique=True)
    status: Mapped[str] = mapped_column(String(10), default="new")
    sold_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=False))
    sold_by: Mapped[str | None] = mapped_column(String(100))
    sold_price: Mapped[int | None] = mapped_column(BigInteger)
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=False))
    redeemed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=False))
    redeemed_account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))

    batch: Mapped[VoucherBatch] = relationship()


__all__ = [
    "HotspotLogin",
    "InternetPackage",
    "Router",
    "Subscription",
    "SubscriptionExtension",
    "Voucher",
    "VoucherBatch",
    "package_routers",
]
