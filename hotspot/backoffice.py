"""What people do on the internet side: each service of `hotspot.routers`,
`wallet.internet` and `wallet.vouchers` together with its audit record, the edits those
modules do not offer (a router's or a package's settings), and the small parsers the forms
share. The `staff_*` services are the admin's, and the customer portal calls the same ones
for a customer's own purchase, auto-renew and voucher: `actor` says who acted (a staff
member, `portal:customer:<id>`), and is written in the audit log and on the ledger entry.

Money still moves only through `wallet.ledger`, called by `wallet.internet` and
`wallet.vouchers`. The functions here that spend or credit return whether the action
was new: the same form key (or, for a registration, the same login) never charges or
credits twice, and a replay records nothing more in the audit log.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hotspot.credentials import RouterKeyring
from hotspot.driver import (
    InterfaceInfo,
    RouterDriver,
    RouterError,
    format_duration,
    parse_duration,
)
from hotspot.routers import RouterLiveView, add_router, checked_router_fields, read_live_view
from wallet import ledger
from wallet.backoffice import account_of_customer
from wallet.errors import InvalidInput, NotFound, WalletError
from wallet.hotspot_models import (
    HotspotLogin,
    InternetPackage,
    Router,
    Subscription,
    SubscriptionExtension,
    Voucher,
    VoucherBatch,
)
from wallet.internet import (
    buy_package,
    check_rate_limit,
    confirm_registration,
    create_login,
    create_package,
    extend_subscription,
    format_speed,
    get_login,
    get_subscription,
    parse_speed,
    register_for_hotspot,
    reject_registration,
    set_auto_renew,
    set_login_status,
    update_package,
)
from wallet.ledger import utcnow
from wallet.locks import take_named_lock
from wallet.models import Account, LedgerEntry
from wallet.staff import AuditRecord, StaffUser, record_audit, staff_username_of_actor
from wallet.vouchers import (
    find_voucher,
    generate_batch,
    mark_sold,
    redeem_voucher,
    redeem_voucher_into_package,
    void_vouchers,
)

# --- parsing what people type ------------------------------------------------------------

# Digits 0 to 9 only, at most 15 of them: a quota stays far inside 64 bits.
_BYTES = re.compile(r"([0-9]{1,15})\s*([KMGT]?)(?:i?B)?", re.IGNORECASE | re.ASCII)
_BURST_TIME = re.compile(r"^([0-9]{1,9})s?$", re.ASCII)
#: The largest data quota (RouterOS's limit-bytes-total is 64-bit; pulsa stores BIGINT).
MAX_DATA_QUOTA = 2**63 - 1


def parse_data_quota(text: str | None) -> int | None:
    """`500M`, `5G`, `5GiB`, `1073741824` (RouterOS counts K as 1024); empty: none."""
    value = (text or "").strip()
    if not value:
        return None
    match = _BYTES.fullmatch(value)
    if not match or int(match.group(1)) < 1:
        raise InvalidInput(f"not a data quota: {value[:40]!r} (e.g. 500M or 5G)")
    size = int(match.group(1)) * 1024 ** " KMGT".index(match.group(2).upper() or " ")
    if size > MAX_DATA_QUOTA:
        raise InvalidInput(f"a data quota of {value!r} is too large")
    return size


def format_data_quota(size: int | None) -> str:
    if not size:
        return ""
    for suffix, power in (("T", 4), ("G", 3), ("M", 2), ("K", 1)):
        if size >= 1024**power and size % 1024**power == 0:
            return f"{size // 1024**power}{suffix}"
    return str(size)


def parse_time_quota(text: str | None) -> int | None:
    """`2h`, `1d12h`, `90m`, `01:30:00` or seconds; empty: none."""
    value = (text or "").strip()
    if not value:
        return None
    try:
        seconds = parse_duration(value)
    except ValueError:
        raise InvalidInput(f"not a time quota: {value[:40]!r} (e.g. 2h, 1d12h or 90m)") from None
    if seconds < 1:
        raise InvalidInput("a time quota must be positive (or empty)")
    return seconds


def format_time_quota(seconds: int | None) -> str:
    return format_duration(seconds) if seconds else ""


@dataclass(frozen=True)
class RateLimitParts:
    """A RouterOS rate limit split into the fields of the package form."""

    upload: str = ""
    download: str = ""
    burst_upload: str = ""
    burst_download: str = ""
    threshold_upload: str = ""
    threshold_download: str = ""
    burst_time: int | None = None


def split_rate_limit(text: str | None, decimal_mark: str = ".") -> RateLimitParts:
    """`512k/2M 1M/4M 384k/1536k 16/16` -> its parts (upload is RouterOS's rx), the
    speeds as people read them ("512 kbps", "2 Mbps", "1.5 Mbps", with the reader's
    `decimal_mark`), which `join_rate_limit` reads back. Every screen, the portal and
    the voucher sheet show speeds through this."""
    if not text:
        return RateLimitParts()
    parts = check_rate_limit(text).split()

    def pair(position: int) -> tuple[str, str]:
        if position >= len(parts):
            return "", ""
        first, _, second = parts[position].partition("/")
        return first, second or first

    def speeds(position: int) -> tuple[str, str]:
        return tuple(format_speed(rate, decimal_mark) for rate in pair(position))

    upload, download = speeds(0)
    burst_upload, burst_download = speeds(1)
    threshold_upload, threshold_download = speeds(2)
    time_text, _ = pair(3)
    burst_time = None
    if time_text:
        try:
            burst_time = parse_duration(time_text)
        except ValueError:
            burst_time = None
    return RateLimitParts(
        upload,
        download,
        burst_upload,
        burst_download,
        threshold_upload,
        threshold_download,
        burst_time,
    )


def join_rate_limit(parts: RateLimitParts) -> str | None:
    """The RouterOS text of the form's fields, speeds written as people write them
    ("5 Mbps", "512 kbps", "5M"); None when no speed is set."""
    rates = (_speed(parts.upload), _speed(parts.download))
    burst = (
        _speed(parts.burst_upload),
        _speed(parts.burst_download),
        _speed(parts.threshold_upload),
        _speed(parts.threshold_download),
    )
    if not any(rates) and not any(burst) and parts.burst_time is None:
        return None
    if not all(rates):
        raise InvalidInput("a speed limit needs both an upload and a download rate")
    text = "/".join(rates)
    if any(burst) or parts.burst_time is not None:
        if not all(burst) or not parts.burst_time:
            raise InvalidInput("a burst needs both rates, both thresholds and a time")
        text += (
            f" {burst[0]}/{burst[1]} {burst[2]}/{burst[3]} {parts.burst_time}/{parts.burst_time}"
        )
    return check_rate_limit(text)


def _speed(text: str) -> str:
    return parse_speed(text) if text and text.strip() else ""


# --- routers -----------------------------------------------------------------------------


def _router_state(router: Router) -> dict:
    """A router as the audit log keeps it: never its password."""
    return {
        "name": router.name,
        "host": router.host,
        "port": router.api_port,
        "tls": router.use_tls,
        "tls_verify": router.tls_verify,
        "username": router.username,
        "hotspot_server": router.hotspot_server,
        "login_url": router.login_url,
        "enabled": router.enabled,
    }


def staff_add_router(
    session: Session,
    keyring: RouterKeyring,
    *,
    name: str,
    host: str,
    username: str,
    password: str,
    port: int | None,
    tls: bool,
    tls_verify: bool,
    hotspot_server: str,
    login_url: str | None,
    actor: str,
    address: str | None = None,
) -> Router:
    if not password:
        raise InvalidInput("a router needs the API password")
    router = add_router(
        session,
        keyring,
        name,
        host,
        username=(username or "").strip(),
        password=password,
        port=port,
        tls=tls,
        tls_verify=tls_verify,
        hotspot_server=(hotspot_server or "").strip() or "all",
        login_url=(login_url or "").strip() or None,
    )
    record_audit(
        session,
        actor,
        "router.add",
        f"router {router.name}",
        after=_router_state(router),
        address=address,
    )
    return router


def staff_update_router(
    session: Session,
    keyring: RouterKeyring,
    router_id: int,
    *,
    name: str,
    host: str,
    username: str,
    password: str | None,
    port: int | None,
    tls: bool,
    tls_verify: bool,
    hotspot_server: str,
    login_url: str | None,
    enabled: bool,
    actor: str,
    address: str | None = None,
) -> Router:
    """Change a router's settings; an empty `password` keeps the stored one."""
    router = session.get(Router, router_id)
    if router is None:
        raise NotFound(f"router {router_id} does not exist")
    fields = checked_router_fields(name, host, username, port, tls, login_url)
    name = fields.name
    clash = session.execute(
        select(Router.id).where(Router.name == name, Router.id != router.id)
    ).first()
    if clash:
        raise InvalidInput(f"a router named {name!r} exists already")
    before = _router_state(router)
    router.name, router.host, router.username = name, fields.host, fields.username
    router.api_port, router.login_url = fields.port, fields.login_url
    router.use_tls, router.tls_verify, router.enabled = tls, tls_verify, enabled
    router.hotspot_server = (hotspot_server or "").strip() or "all"
    after = _router_state(router)
    if password:
        router.password_encrypted = keyring.encrypt(password)
        after["password"] = "changed"
    session.flush()
    record_audit(
        session,
        actor,
        "router.edit",
        f"router {router.name}",
        before=before,
        after=after,
        address=address,
    )
    return router


@dataclass(frozen=True)
class InterfaceTraffic:
    """An interface and its traffic, measured between two reads of its counters."""

    interface: InterfaceInfo
    rx_bits_per_second: int | None
    tx_bits_per_second: int | None


def read_router_page(
    driver: RouterDriver, sample_seconds: float = 1.0
) -> tuple[RouterLiveView, list[InterfaceTraffic]]:
    """The router page's live part: status, active users and interfaces, whose counters
    are read twice `sample_seconds` apart to show the current traffic."""
    view = read_live_view(driver)
    if view.interface_error is not None or not view.interfaces or sample_seconds <= 0:
        return view, [InterfaceTraffic(i, None, None) for i in view.interfaces]
    started = time.monotonic()
    time.sleep(sample_seconds)
    try:
        later = {i.name: i for i in driver.list_interfaces()}
    except RouterError:
        return view, [InterfaceTraffic(i, None, None) for i in view.interfaces]
    elapsed = max(time.monotonic() - started, 0.001)
    rows = []
    for first in view.interfaces:
        second = later.get(first.name)
        if second is None or second.rx_bytes < first.rx_bytes or second.tx_bytes < first.tx_bytes:
            rows.append(InterfaceTraffic(first, None, None))
            continue
        rows.append(
            InterfaceTraffic(
                second,
                int((second.rx_bytes - first.rx_bytes) * 8 / elapsed),
                int((second.tx_bytes - first.tx_bytes) * 8 / elapsed),
            )
        )
    return view, rows


# --- packages ----------------------------------------------------------------------------


def _package_state(package: InternetPackage) -> dict:
    return {
        "name": package.name,
        "profile": package.profile_name,
        "description": package.description,
        "price": package.price,
        "validity": f"{package.validity_value} {package.validity_unit}",
        "limit_uptime": package.limit_uptime,
        "limit_bytes_total": package.limit_bytes_total,
        "rate_limit": package.rate_limit,
        "shared_users": package.shared_users,
        "routers": [r.name for r in package.routers],
        "active": package.active,
    }


def staff_create_package(
    session: Session,
    name: str,
    *,
    actor: str,
    address: str | None = None,
    **fields: Any,
) -> InternetPackage:
    package = create_package(session, name, **fields)
    record_audit(
        session,
        actor,
        "package.create",
        f"package {package.name}",
        after=_package_state(package),
        address=address,
    )
    return package


def staff_update_package(
    session: Session,
    package_id: int,
    *,
    actor: str,
    address: str | None = None,
    **fields: Any,
) -> InternetPackage:
    """Change a package (`wallet.internet.update_package`, same fields), audited."""
    package = session.get(InternetPackage, package_id)
    if package is None:
        raise NotFound(f"internet package {package_id} does not exist")
    before = _package_state(package)
    update_package(session, package_id, **fields)
    record_audit(
        session,
        actor,
        "package.edit",
        f"package {package.name}",
        before=before,
        after=_package_state(package),
        address=address,
    )
    return package


# --- logins and subscriptions ------------------------------------------------------------


def account_of_login(session: Session, login: HotspotLogin) -> Account | None:
    """The wallet a login's purchases are paid from (none for a voucher)."""
    if login.customer_id is None:
        return None
    try:
        return account_of_customer(session, login.customer_id)
    except NotFound:
        return None


def staff_create_login(
    session: Session,
    customer_id: int,
    username: str,
    password: str | None,
    *,
    actor: str,
    address: str | None = None,
    only_if_none: bool = False,
) -> HotspotLogin:
    """A hotspot username for a customer (`UsernameTaken` carries a free suggestion).
    The admin makes as many as it likes; a customer in the portal makes their first one
    (`only_if_none`: refused when they have one, checked under their wallet's lock so
    that two sends of the form make one login)."""
    if only_if_none:
        ledger.lock_account(session, account_of_customer(session, customer_id).id)
        if session.execute(
            select(HotspotLogin.id).where(HotspotLogin.customer_id == customer_id).limit(1)
        ).first():
            raise InvalidInput("this customer has a hotspot login already")
    login = create_login(session, customer_id, username, password or None)
    record_audit(
        session,
        actor,
        "hotspot_login.create",
        f"hotspot login {login.username}",
        after={"customer": customer_id, "username": login.username},
        address=address,
    )
    return login


def staff_set_login_status(
    session: Session, login_id: int, status: str, *, actor: str, address: str | None = None
) -> HotspotLogin:
    before = get_login(session, login_id).status
    login = set_login_status(session, login_id, status)
    if before != login.status:
        record_audit(
            session,
            actor,
            "hotspot_login.status",
            f"hotspot login {login.username}",
            before={"status": before},
            after={"status": login.status},
            address=address,
        )
    return login


def staff_buy_package(
    session: Session,
    login_id: int,
    package_id: int,
    *,
    key: str,
    auto_renew: bool,
    actor: str,
    address: str | None = None,
) -> tuple[Subscription, bool]:
    """Buy a package for a login from its owner's wallet. Returns the subscription and
    whether it is new (False: this key bought it before, nothing more was charged)."""
    login = get_login(session, login_id)
    account = account_of_login(session, login)
    if account is None:
        raise InvalidInput(f"login {login.username!r} has no wallet to pay from")
    # Under the wallet's lock, so that a replay racing the first submit is seen as one.
    ledger.lock_account(session, account.id)
    earlier = session.execute(
        select(Subscription.id).where(Subscription.purchase_key == key)
    ).scalar_one_or_none()
    subscription = buy_package(
        session, login.id, package_id, key=key, actor=actor, auto_renew=auto_renew
    )
    if earlier is None:
        record_audit(
            session,
            actor,
            "internet.buy",
            f"hotspot login {login.username}",
            after={
                "subscription": subscription.id,
                "package": subscription.package.name,
                "price": subscription.price,
                "ends_at": subscription.ends_at,
                "auto_renew": auto_renew,
            },
            address=address,
        )
    return subscription, earlier is None


def staff_extend(
    session: Session,
    subscription_id: int,
    days: int,
    *,
    key: str,
    price: int,
    reason: str,
    actor: str,
    address: str | None = None,
) -> tuple[SubscriptionExtension, bool]:
    """Extend a subscription (free with a reason, or paid from the wallet); returns the
    extension and whether it is new (False: this key extended it before)."""
    subscription = get_subscription(session, subscription_id)
    if subscription.account_id is not None:
        ledger.lock_account(session, subscription.account_id)
    earlier = session.execute(
        select(SubscriptionExtension.id).where(SubscriptionExtension.extension_key == key)
    ).scalar_one_or_none()
    extension = extend_subscription(
        session, subscription_id, days, key=key, actor=actor, reason=reason, price=price
    )
    if earlier is None:
        record_audit(
            session,
            actor,
            "internet.extend",
            f"subscription {subscription_id}",
            before={"ends_at": extension.old_ends_at},
            after={
                "ends_at": extension.new_ends_at,
                "days": days,
                "price": price,
                "reason": extension.reason,
            },
            address=address,
        )
    return extension, earlier is None


def staff_set_auto_renew(
    session: Session, subscription_id: int, enabled: bool, *, actor: str, address: str | None = None
) -> Subscription:
    before = get_subscription(session, subscription_id).auto_renew
    subscription = set_auto_renew(session, subscription_id, enabled)
    if before != enabled:
        record_audit(
            session,
            actor,
            "internet.auto_renew",
            f"subscription {subscription_id}",
            before={"auto_renew": before},
            after={"auto_renew": enabled},
            address=address,
        )
    return subscription


# --- self-registration -------------------------------------------------------------------

REGISTRATION_KEY = "registration:{login_id}"
REGISTRATION_LOCK = "portal.registration"


@dataclass(frozen=True)
class RegistrationLimits:
    """How many registrations the public page takes, counted in the database over a
    sliding `window` (so every web worker and server shares them).

    An address is limited first. The whole site is never closed: past `busy_after`
    registrations in the window each address may make only `per_address_when_busy`, and
    registrations are spaced `spacing` apart, the spacing doubling with every further
    `busy_after` (up to `longest_spacing`). Someone with a few addresses thus slows the
    site down a little instead of locking real customers out for an hour.
    """

    per_address: int = 5
    per_address_when_busy: int = 1
    busy_after: int = 60
    window: timedelta = timedelta(hours=1)
    spacing: timedelta = timedelta(seconds=10)
    longest_spacing: timedelta = timedelta(minutes=5)

    def __post_init__(self) -> None:
        if min(self.per_address, self.per_address_when_busy, self.busy_after) < 1:
            raise ValueError("registration limits must let at least one through")


class TooManyRegistrations(WalletError):
    """Refused for now; `retry_after` says how long to wait."""

    def __init__(self, retry_after: timedelta) -> None:
        super().__init__(f"too many registrations; try again in {retry_after}")
        self.retry_after = retry_after


def registration_wait(
    limits: RegistrationLimits,
    *,
    from_address: list[datetime],
    site_count: int,
    last_on_site: datetime | None,
    now: datetime,
) -> timedelta:
    """How long a registration from an address must wait (zero: it may go now), given
    the times of that address's registrations in the window (oldest first), the number
    of registrations on the whole site in the window and when the last one was."""
    busy = site_count >= limits.busy_after
    allowed = limits.per_address_when_busy if busy else limits.per_address
    wait = timedelta(0)
    if len(from_address) >= allowed:
        # The registration that has to leave the window before this one fits in.
        leaving = from_address[len(from_address) - allowed]
        wait = max(wait, leaving + limits.window - now)
    if busy and last_on_site is not None:
        doublings = min((site_count - limits.busy_after) // max(limits.busy_after, 1), 30)
        spacing = min(limits.spacing * 2**doublings, limits.longest_spacing)
        wait = max(wait, last_on_site + spacing - now)
    return max(wait, timedelta(0))


def check_registration_limits(
    session: Session, address: str, limits: RegistrationLimits, now: datetime
) -> None:
    """Raise TooManyRegistrations unless a registration from `address` may be made now.

    Takes the registrations' named lock for the rest of the transaction: the count and
    the registration it allows (whose audit record the next count sees) are one step.
    """
    take_named_lock(session, REGISTRATION_LOCK)
    since = now - limits.window
    recent = (
        select(AuditRecord.at)
        .where(AuditRecord.action == "registration.new", AuditRecord.at > since)
        .order_by(AuditRecord.at)
    )
    from_address = list(session.execute(recent.where(AuditRecord.address == address)).scalars())
    site_count, last_on_site = session.execute(
        select(func.count(), func.max(AuditRecord.at)).where(
            AuditRecord.action == "registration.new", AuditRecord.at > since
        )
    ).one()
    wait = registration_wait(
        limits,
        from_address=from_address,
        site_count=site_count,
        last_on_site=last_on_site,
        now=now,
    )
    if wait > timedelta(0):
        raise TooManyRegistrations(wait)


def portal_register(
    session: Session,
    *,
    name: str,
    username: str,
    password: str,
    package_id: int,
    currency: str,
    phone: str | None = None,
    email: str | None = None,
    address: str | None = None,
    limits: RegistrationLimits | None = None,
) -> HotspotLogin:
    """A registration from the public page: a pending customer and login (nothing is
    charged; an admin confirms the payment). With `limits`, refused with
    TooManyRegistrations when `address` (or the site) has registered too much lately."""
    if limits is not None:
        check_registration_limits(session, address or "", limits, utcnow())
    package = session.get(InternetPackage, package_id)
    if package is None or not package.active:
        raise NotFound("this package is not sold")
    login = register_for_hotspot(
        session,
        name=name,
        username=username,
        package=package.id,
        currency=currency,
        password=password,
        phone=phone,
        email=email,
    )
    record_audit(
        session,
        "portal",
        "registration.new",
        f"hotspot login {login.username}",
        after={"login": login.id, "name": name, "package": package.name},
        address=address,
    )
    return login


def registrations_since(session: Session, moment: datetime) -> int:
    """Registrations made since `moment`, whatever became of them."""
    return session.execute(
        select(func.count())
        .select_from(AuditRecord)
        .where(AuditRecord.action == "registration.new", AuditRecord.at >= moment)
    ).scalar_one()


def staff_confirm_registration(
    session: Session,
    login_id: int,
    *,
    amount: int,
    method: str,
    reference: str | None,
    actor: str,
    address: str | None = None,
) -> tuple[Subscription, bool]:
    """Credit the payment, buy the chosen package, enable the login; returns the
    subscription and whether this confirmation did it (False: confirmed before)."""
    login = get_login(session, login_id)
    account = account_of_login(session, login)
    if account is None:
        raise InvalidInput(f"login {login.username!r} has no wallet")
    ledger.lock_account(session, account.id)
    earlier = session.execute(
        select(Subscription.id).where(
            Subscription.purchase_key == REGISTRATION_KEY.format(login_id=login.id)
        )
    ).scalar_one_or_none()
    subscription = confirm_registration(
        session, login.id, amount=amount, method=method, reference=reference, actor=actor
    )
    if earlier is None:
        record_audit(
            session,
            actor,
            "registration.confirm",
            _login_target(login),
            before={"status": "pending"},
            after={
                "login": login.id,
                "status": "active",
                "paid": amount,
                "method": method,
                "reference": reference,
                "subscription": subscription.id,
            },
            address=address,
        )
    return subscription, earlier is None


def staff_reject_registration(
    session: Session, login_id: int, reason: str, *, actor: str, address: str | None = None
) -> HotspotLogin:
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput("a rejection needs a reason")
    login = reject_registration(session, login_id)
    record_audit(
        session,
        actor,
        "registration.reject",
        _login_target(login),
        before={"status": "pending"},
        after={"login": login.id, "status": "void", "reason": reason[:2000]},
        address=address,
    )
    return login


def _login_target(login: HotspotLogin) -> str:
    return f"hotspot login {login.id} {login.username}"[:120]


def rejection_of(session: Session, login: HotspotLogin) -> AuditRecord | None:
    """The audit record of a registration's rejection (who, when and why)."""
    return session.execute(
        select(AuditRecord)
        .where(
            AuditRecord.action == "registration.reject", AuditRecord.target == _login_target(login)
        )
        .order_by(AuditRecord.id.desc())
        .limit(1)
    ).scalar_one_or_none()


# --- vouchers ----------------------------------------------------------------------------


def _serialize_staff_member(session: Session, actor: str) -> None:
    """Lock the acting staff member's row: two submits of one form by one person then
    run one after the other, so the second sees what the first did."""
    username = staff_username_of_actor(actor)
    if username is not None:
        session.execute(
            select(StaffUser.id).where(StaffUser.username == username).with_for_update()
        ).first()


def staff_generate_batch(
    session: Session, *, key: str, actor: str, address: str | None = None, **options
) -> tuple[VoucherBatch, bool]:
    """Generate a voucher batch once per form key: submitting the same form again
    returns the first batch instead of printing a second one."""
    if not key:
        raise InvalidInput("a batch needs its form key")
    _serialize_staff_member(session, actor)
    marker = f'"form_key": "{key}"'
    earlier = session.execute(
        select(AuditRecord)
        .where(AuditRecord.action == "voucher_batch.generate", AuditRecord.after.contains(marker))
        .limit(1)
    ).scalar_one_or_none()
    if earlier is not None:
        batch = session.get(VoucherBatch, earlier.after_data().get("batch"))
        if batch is not None:
            return batch, False
    batch = generate_batch(session, actor=actor, **options)
    record_audit(
        session,
        actor,
        "voucher_batch.generate",
        f"voucher batch {batch.id}",
        after={
            "batch": batch.id,
            "count": batch.count,
            "package": batch.package.name if batch.package else None,
            "price": batch.price,
            "form_key": key,
        },
        address=address,
    )
    return batch, True


def _codes(codes: Iterable[str]) -> list[str]:
    found = []
    for code in codes:
        code = code.strip()
        if code and code not in found:
            found.append(code)
    if not found:
        raise InvalidInput("enter at least one voucher code")
    if len(found) > 1000:
        raise InvalidInput("at most 1,000 codes at once")
    return found


def staff_sell_vouchers(
    session: Session,
    codes: Iterable[str],
    *,
    price: int | None,
    actor: str,
    address: str | None = None,
) -> list[Voucher]:
    wanted = _codes(codes)
    sold = mark_sold(session, wanted, actor=actor, price=price)
    record_audit(
        session,
        actor,
        "voucher.sell",
        f"{len(sold)} voucher(s)",
        after={"codes": [v.code for v in sold][:50], "price": price},
        address=address,
    )
    return sold


def staff_void_vouchers(
    session: Session, codes: Iterable[str], *, actor: str, address: str | None = None
) -> int:
    wanted = _codes(codes)
    count = void_vouchers(session, wanted)
    record_audit(
        session,
        actor,
        "voucher.void",
        f"{count} voucher(s)",
        after={"codes": wanted[:50]},
        address=address,
    )
    return count


def staff_redeem_voucher(
    session: Session,
    account_id: int,
    code: str,
    *,
    password: str | None,
    actor: str,
    address: str | None = None,
) -> tuple[LedgerEntry, bool]:
    """Credit a voucher's face value to a wallet; whether it is new (False: it was
    redeemed into this wallet before and nothing more was credited)."""
    ledger.lock_account(session, account_id)
    try:
        before = find_voucher(session, code).status
    except (NotFound, InvalidInput):
        raise NotFound("no voucher with this code") from None
    entry = redeem_voucher(session, account_id, code, password=password, actor=actor)
    if before != "redeemed":
        record_audit(
            session,
            actor,
            "voucher.redeem",
            f"account {account_id}",
            after={"code": code.strip(), "amount": entry.amount},
            address=address,
        )
    return entry, before != "redeemed"


def voucher_is_for_a_package(session: Session, code: str) -> bool:
    """Whether a code is a package voucher (its package, not credit, is what it gives);
    False for a credit voucher and for a code that is no voucher (the redeem says so)."""
    try:
        return find_voucher(session, code).batch.package_id is not None
    except (NotFound, InvalidInput):
        return False


def redeem_package_voucher(
    session: Session,
    login_id: int,
    code: str,
    *,
    password: str | None,
    actor: str,
    address: str | None = None,
) -> tuple[Subscription, bool]:
    """Start a package voucher's package on a customer's login
    (`wallet.vouchers.redeem_voucher_into_package`), audited; whether it is new (False:
    it was redeemed onto this login before and nothing more was added)."""
    subscription, new = redeem_voucher_into_package(
        session, login_id, code, password=password, actor=actor
    )
    if new:
        record_audit(
            session,
            actor,
            "voucher.redeem_package",
            f"login {login_id}",
            after={
                "code": code.strip(),
                "package": subscription.package_id,
                "subscription": subscription.id,
            },
            address=address,
        )
    return subscription, new


@dataclass(frozen=True)
class VoucherReportRow:
    package: str | None
    generated: int
    sold: int
    sold_total: int
    used: int
    redeemed: int


def voucher_report(
    session: Session, start: datetime | None, end: datetime | None
) -> list[VoucherReportRow]:
    """Per package: vouchers generated, sold (and for how much), used online and
    redeemed in [start, end) (naive UTC; None: unbounded)."""

    def between(column):
        conditions = [column.is_not(None)]
        if start is not None:
            conditions.append(column >= start)
        if end is not None:
            conditions.append(column < end)
        return conditions

    def per_package(*columns, conditions):
        statement = (
            select(VoucherBatch.package_id, *columns)
            .select_from(Voucher)
            .join(VoucherBatch, VoucherBatch.id == Voucher.batch_id)
            .where(*conditions)
            .group_by(VoucherBatch.package_id)
        )
        return {row[0]: row[1:] for row in session.execute(statement)}

    generated = per_package(func.count(), conditions=between(VoucherBatch.created_at))
    sold = per_package(
        func.count(),
        func.coalesce(func.sum(Voucher.sold_price), 0),
        conditions=between(Voucher.sold_at),
    )
    used = per_package(func.count(), conditions=between(Voucher.used_at))
    redeemed = per_package(func.count(), conditions=between(Voucher.redeemed_at))
    package_ids = set(generated) | set(sold) | set(used) | set(redeemed)
    names = dict(
        session.execute(
            select(InternetPackage.id, InternetPackage.name).where(
                InternetPackage.id.in_([p for p in package_ids if p is not None])
            )
        ).all()
    )
    rows = [
        VoucherReportRow(
            package=names.get(package_id) if package_id is not None else None,
            generated=int(generated.get(package_id, (0,))[0]),
            sold=int(sold.get(package_id, (0, 0))[0]),
            sold_total=int(sold.get(package_id, (0, 0))[1]),
            used=int(used.get(package_id, (0,))[0]),
            redeemed=int(redeemed.get(package_id, (0,))[0]),
        )
        for package_id in package_ids
    ]
    return sorted(rows, key=lambda r: (r.package is None, r.package or ""))
