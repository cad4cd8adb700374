"""Internet packages, hotspot logins and subscriptions: the money side of the hotspot.

Buying a package is one wallet transaction: the debit (`ledger.spend`, kind
"package") and the subscription row commit together or not at all, and the purchase
key makes a replay return the first subscription instead of charging again. Nothing
here talks to a router: the reconciler (`hotspot.reconciler`) reads what these
functions wrote and provisions it, now or when the router is back.

Every function works inside the caller's transaction, like `wallet.ledger`.
"""

from __future__ import annotations

import calendar
import re
import secrets
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Select, func, or_, select
from sqlalchemy.orm import Session

from wallet import events, ledger, references
from wallet.customers import create_customer
from wallet.errors import IdempotencyConflict, InvalidInput, NotFound, WalletError
from wallet.hotspot_models import (
    HotspotLogin,
    InternetPackage,
    Router,
    Subscription,
    SubscriptionExtension,
)
from wallet.ledger import utcnow
from wallet.models import Account, Customer
from wallet.site_settings import SiteSetting
from wallet.text import check_text

VALIDITY_UNITS = ("minutes", "hours", "days", "months")
#: When the validity of a package bought with nothing running starts (the operator's
#: choice in Settings, `internet_start`): when a router first holds it, or at the first
#: login seen on a router. Either way nothing counts while no router could take it.
START_MODES = ("router", "first_login")
LOGIN_STATUSES = ("active", "pending", "disabled", "void")
MAX_USERNAME = 64
MAX_EXTENSION_DAYS = 3660
# Characters a person can read off a screen or a voucher without mixing them up.
PASSWORD_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
_USERNAME_PUNCTUATION = set("._-@+")
# Digits 0 to 9 only (`\d` takes any script's digits, which RouterOS does not).
_RATE = r"[0-9]{1,12}(?:\.[0-9]{1,6})?[kKMG]?"
_RATE_PAIR = re.compile(rf"{_RATE}(?:/{_RATE})?", re.ASCII)
_TIME_PAIR = re.compile(r"[0-9]{1,9}[smhd]?(?:/[0-9]{1,9}[smhd]?)?", re.ASCII)
# A speed as people write it: "5M", "5m", "5 Mbps", "512 kbps", "1.5 Mbit/s", "2000000".
_SPEED_TEXT = re.compile(
    r"([0-9]{1,12}(?:[.,][0-9]{1,9})?)\s*([kmg]?)\s*(?:b|bit|bits)?(?:ps|/s)?", re.I | re.ASCII
)
_SPEED_UNITS = {"": 1, "k": 1_000, "M": 1_000_000, "G": 1_000_000_000}


class UsernameTaken(InvalidInput):
    """The hotspot username is in use; `suggestion` is a free one close to it."""

    def __init__(self, username: str, suggestion: str) -> None:
        super().__init__(f"the username {username!r} is taken; {suggestion!r} is free")
        self.username = username
        self.suggestion = suggestion


# --- usernames ---------------------------------------------------------------------------


def normalize_username(name: str) -> str:
    """The username as stored and sent to routers: NFC, so the same name typed on two
    keyboards is the same bytes on the router."""
    value = unicodedata.normalize("NFC", (name or "").strip())
    if not value:
        raise InvalidInput("a hotspot username cannot be empty")
    if len(value) > MAX_USERNAME:
        raise InvalidInput(f"a hotspot username has at most {MAX_USERNAME} characters")
    bad = sorted({c for c in value if not (c.isalnum() or c in _USERNAME_PUNCTUATION)})
    if bad:
        # Spaces, quotes and $ would break the router's login page and its variables.
        raise InvalidInput(
            f"a hotspot username may use letters, digits and . _ - @ + only, not {''.join(bad)!r}"
        )
    return value


def username_key(name: str) -> str:
    """Case-insensitive identity of a username, in ASCII (see `HotspotLogin`)."""
    folded = unicodedata.normalize("NFKC", name).casefold()
    key = folded.encode("punycode").decode("ascii")
    if len(key) > 160:
        raise InvalidInput("this hotspot username is too long")
    return key


def find_login(session: Session, username: str) -> HotspotLogin | None:
    return session.execute(
        select(HotspotLogin).where(HotspotLogin.username_key == username_key(username))
    ).scalar_one_or_none()


def suggest_username(session: Session, wanted: str) -> str:
    """A free username close to `wanted`: the name with a small number after it."""
    base = normalize_username(wanted)[: MAX_USERNAME - 4]
    candidates = [f"{base}{n}" for n in range(2, 40)]
    taken = set(
        session.execute(
            select(HotspotLogin.username_key).where(
                HotspotLogin.username_key.in_([username_key(c) for c in candidates])
            )
        ).scalars()
    )
    for candidate in candidates:
        if username_key(candidate) not in taken:
            return candidate
    while True:
        candidate = f"{base}{secrets.randbelow(9000) + 1000}"
        if find_login(session, candidate) is None:
            return candidate


def check_username_free(session: Session, username: str) -> str:
    """The normalized name when nobody has it; `UsernameTaken` with a suggestion if not."""
    name = normalize_username(username)
    if find_login(session, name) is not None:
        raise UsernameTaken(name, suggest_username(session, name))
    return name


def username_from_name(name: str) -> str:
    """A hotspot username to offer for a customer: their name in small ASCII letters
    and digits, words joined by dots ("Siti Nur'aini" -> "siti.nuraini")."""
    words = []
    for word in unicodedata.normalize("NFKD", name or "").casefold().split():
        kept = "".join(c for c in word if c.isascii() and c.isalnum())
        if kept:
            words.append(kept)
    return ".".join(words)[:32].strip(".") or "user"


def generate_password(length: int = 8) -> str:
    return "".join(secrets.choice(PASSWORD_ALPHABET) for _ in range(length))


def _check_password(password: str) -> str:
    if not password or len(password) > 64:
        raise InvalidInput("a hotspot password needs 1 to 64 characters")
    if any(c.isspace() or c in "\"'<>$\\" for c in password):
        raise InvalidInput("a hotspot password cannot contain spaces, quotes, < > $ or \\")
    return password


def create_login(
    session: Session,
    customer_id: int | None,
    username: str,
    password: str | None = None,
    *,
    status: str = "active",
    package_id: int | None = None,
    kind: str = "customer",
) -> HotspotLogin:
    """A hotspot username for a customer. A taken name raises `UsernameTaken`."""
    if status not in LOGIN_STATUSES:
        raise InvalidInput(f"login status must be one of {', '.join(LOGIN_STATUSES)}")
    if customer_id is not None and session.get(Customer, customer_id) is None:
        raise NotFound(f"customer {customer_id} does not exist")
    name = check_username_free(session, username)
    login = HotspotLogin(
        username=name,
        username_key=username_key(name),
        password=_check_password(password) if password else generate_password(),
        kind=kind,
        customer_id=customer_id,
        package_id=package_id,
        status=status,
        created_at=utcnow(),
    )
    session.add(login)
    session.flush()
    return login


def get_login(session: Session, login_id: int) -> HotspotLogin:
    login = session.get(HotspotLogin, login_id)
    if login is None:
        raise NotFound(f"hotspot login {login_id} does not exist")
    return login


def set_login_status(session: Session, login_id: int, status: str) -> HotspotLogin:
    """Enable or disable a login by hand; the reconciler applies it on the routers."""
    if status not in ("active", "disabled"):
        raise InvalidInput("a login can be set to active or disabled")
    login = get_login(session, login_id)
    if login.status in ("pending", "void"):
        raise InvalidInput(f"login {login.username!r} is {login.status}")
    login.status = status
    session.flush()
    return login


# --- packages ----------------------------------------------------------------------------


def rate_limit_text(
    upload: str,
    download: str,
    *,
    burst_upload: str | None = None,
    burst_download: str | None = None,
    threshold_upload: str | None = None,
    threshold_download: str | None = None,
    burst_time: int | None = None,
) -> str:
    """RouterOS `rate-limit` for a hotspot profile: rx/tx as the router sees it, which
    for a hotspot client is upload/download, then burst rates, thresholds and time."""
    text = f"{upload}/{download}"
    burst = (burst_upload, burst_download, threshold_upload, threshold_download, burst_time)
    if any(part is not None for part in burst):
        if None in burst:
            raise InvalidInput("a burst needs both rates, both thresholds and a time")
        text += (
            f" {burst_upload}/{burst_download} {threshold_upload}/{threshold_download}"
            f" {burst_time}/{burst_time}"
        )
    return check_rate_limit(text)


def parse_speed(text: str) -> str:
    """A speed as people write it ("5 Mbps", "512 kbps", "5M", "1.5 Mbit/s") in RouterOS's
    form ("5M", "512k", "1500k"): whole numbers with k, M or G, in bits per second."""
    found = _SPEED_TEXT.fullmatch((text or "").strip())
    if not found:
        raise InvalidInput(f"not a speed: {text[:40]!r} (write it like 5M, 5 Mbps or 512 kbps)")
    number, unit = found.group(1).replace(",", "."), found.group(2)
    unit = unit.lower() if unit.lower() == "k" else unit.upper()
    whole, _, fraction = number.partition(".")
    bits = int(whole) * _SPEED_UNITS[unit]
    if fraction:
        scale = _SPEED_UNITS[unit] // 10 ** len(fraction)
        if scale == 0:
            raise InvalidInput(f"not a speed: {text!r} (too many decimals)")
        bits += int(fraction) * scale
    if bits == 0:
        raise InvalidInput(f"a speed must be more than zero: {text!r}")
    for name in ("G", "M", "k"):
        if bits % _SPEED_UNITS[name] == 0:
            return f"{bits // _SPEED_UNITS[name]}{name}"
    return str(bits)


def format_speed(routeros: str, decimal_mark: str = ".") -> str:
    """RouterOS's "5M" as people read it: "5 Mbps" ("512k": "512 kbps", "1500k":
    "1.5 Mbps", or "1,5 Mbps" with the decimal mark ","), which `parse_speed` reads
    back. Text that is not a RouterOS speed comes back as it is."""
    if not routeros:
        return ""
    try:
        canonical = parse_speed(routeros)
    except InvalidInput:
        return routeros
    unit = canonical[-1] if canonical[-1] in _SPEED_UNITS else ""
    bits = int(canonical[: len(canonical) - len(unit)]) * _SPEED_UNITS[unit]
    for name, label in (("G", "Gbps"), ("M", "Mbps"), ("k", "kbps")):
        size = _SPEED_UNITS[name]
        # The largest unit the speed has a whole one of, with at most 2 decimals: three
        # would read as thousands in Indonesian ("1.536 Mbps"); that one is "1536 kbps".
        if bits >= size and (bits * 100) % size == 0:
            whole, rest = divmod(bits, size)
            decimals = f"{rest * 100 // size:02d}".rstrip("0")
            number = f"{whole}{decimal_mark}{decimals}" if decimals else str(whole)
            return f"{number} {label}"
    return f"{bits} bps"


def check_rate_limit(text: str) -> str:
    """Accept RouterOS's `rx[/tx] [burst-rx[/tx] [threshold-rx[/tx] [time-rx[/tx]]]]`."""
    parts = text.split()
    if not 1 <= len(parts) <= 4:
        raise InvalidInput(f"not a RouterOS rate limit: {text[:80]!r}")
    for position, part in enumerate(parts):
        pattern = _TIME_PAIR if position == 3 else _RATE_PAIR
        if not pattern.fullmatch(part):
            raise InvalidInput(f"not a RouterOS rate limit: {text[:80]!r} (at {part[:40]!r})")
    return " ".join(parts)


def create_package(
    session: Session,
    name: str,
    *,
    price: int,
    validity_value: int,
    validity_unit: str,
    profile_name: str | None = None,
    limit_uptime: int | None = None,
    limit_bytes_total: int | None = None,
    rate_limit: str | None = None,
    shared_users: int | None = 1,
    router_ids: Iterable[int] = (),
    description: str = "",
) -> InternetPackage:
    """An internet package, provisioned on the routers in `router_ids` (none: on no
    router yet, which lets a package be prepared before its routers exist)."""
    package = InternetPackage(created_at=utcnow())
    _fill_package(
        session,
        package,
        name=name,
        price=price,
        validity_value=validity_value,
        validity_unit=validity_unit,
        profile_name=profile_name,
        limit_uptime=limit_uptime,
        limit_bytes_total=limit_bytes_total,
        rate_limit=rate_limit,
        shared_users=shared_users,
        router_ids=router_ids,
        description=description,
        active=True,
    )
    session.add(package)
    session.flush()
    return package


def update_package(
    session: Session,
    package_id: int,
    *,
    name: str,
    price: int,
    validity_value: int,
    validity_unit: str,
    profile_name: str | None = None,
    limit_uptime: int | None = None,
    limit_bytes_total: int | None = None,
    rate_limit: str | None = None,
    shared_users: int | None = 1,
    router_ids: Iterable[int] = (),
    description: str = "",
    active: bool = True,
) -> InternetPackage:
    """Change a package under the rules of `create_package`. Subscriptions already
    bought keep the quotas they were bought with; the new speed and shared users reach
    the routers through the profile at the next sync."""
    package = session.get(InternetPackage, package_id)
    if package is None:
        raise NotFound(f"internet package {package_id} does not exist")
    _fill_package(
        session,
        package,
        name=name,
        price=price,
        validity_value=validity_value,
        validity_unit=validity_unit,
        profile_name=profile_name,
        limit_uptime=limit_uptime,
        limit_bytes_total=limit_bytes_total,
        rate_limit=rate_limit,
        shared_users=shared_users,
        router_ids=router_ids,
        description=description,
        active=active,
    )
    session.flush()
    return package


def _fill_package(
    session: Session,
    package: InternetPackage,
    *,
    name: str,
    price: int,
    validity_value: int,
    validity_unit: str,
    profile_name: str | None,
    limit_uptime: int | None,
    limit_bytes_total: int | None,
    rate_limit: str | None,
    shared_users: int | None,
    router_ids: Iterable[int],
    description: str,
    active: bool,
) -> None:
    """Check every rule, then set the package's fields (nothing is set when one fails)."""
    name, profile = _checked_package(
        session,
        name,
        profile_name,
        price,
        validity_value,
        validity_unit,
        limit_uptime,
        limit_bytes_total,
        shared_users,
        other_than=package.id,
    )
    rate_limit = check_rate_limit(rate_limit) if rate_limit else None
    routers = _routers_by_id(session, router_ids)
    package.name, package.profile_name = name, profile
    package.description = (description or "")[:500]
    package.price = price
    package.validity_value, package.validity_unit = validity_value, validity_unit
    package.limit_uptime, package.limit_bytes_total = limit_uptime, limit_bytes_total
    package.rate_limit = rate_limit
    package.shared_users = shared_users
    package.routers = routers
    package.active = active


def _checked_package(
    session: Session,
    name: str,
    profile_name: str | None,
    price: int,
    validity_value: int,
    validity_unit: str,
    limit_uptime: int | None,
    limit_bytes_total: int | None,
    shared_users: int | None,
    other_than: int | None = None,
) -> tuple[str, str]:
    """The package's name and profile, normalized, after every rule is checked."""
    name = unicodedata.normalize("NFC", check_text((name or "").strip(), "a package name"))
    if not name or len(name) > 100:
        raise InvalidInput("a package needs a name of 1 to 100 characters")
    profile = unicodedata.normalize("NFC", (profile_name or name).strip())
    if not profile or len(profile) > 64:
        raise InvalidInput("a profile name needs 1 to 64 characters")
    if profile.casefold() == "default":
        # pulsa would rewrite the router's built-in profile, which unmanaged users share.
        raise InvalidInput("the RouterOS profile 'default' cannot be a package profile")
    if not isinstance(price, int) or price < 0:
        raise InvalidInput("a package price is whole micro-units, zero or more")
    if validity_unit not in VALIDITY_UNITS:
        raise InvalidInput(f"validity unit must be one of {', '.join(VALIDITY_UNITS)}")
    if not isinstance(validity_value, int) or validity_value < 1:
        raise InvalidInput("validity must be at least 1")
    for label, value in (("time quota", limit_uptime), ("data quota", limit_bytes_total)):
        if value is not None and value < 1:
            raise InvalidInput(f"a {label} must be positive (or none)")
    if shared_users is not None and shared_users < 1:
        raise InvalidInput("shared users must be at least 1 (or unlimited)")
    same = (InternetPackage.name == name) | (InternetPackage.profile_name == profile)
    if other_than is not None:
        same = same & (InternetPackage.id != other_than)
    clash = session.execute(select(InternetPackage).where(same)).scalars().first()
    if clash is not None:
        raise InvalidInput(f"package {clash.name!r} already uses that name or profile")
    return name, profile


def _routers_by_id(session: Session, router_ids: Iterable[int]) -> list[Router]:
    routers = []
    for router_id in sorted(set(router_ids)):
        router = session.get(Router, router_id)
        if router is None:
            raise NotFound(f"router {router_id} does not exist")
        routers.append(router)
    return routers


def get_package(session: Session, package: int | str) -> InternetPackage:
    """A package by id or by name."""
    if isinstance(package, int):
        found = session.get(InternetPackage, package)
    else:
        found = session.execute(
            select(InternetPackage).where(InternetPackage.name == package)
        ).scalar_one_or_none()
    if found is None:
        raise NotFound(f"internet package {package!r} does not exist")
    return found


def add_months(moment: datetime, months: int) -> datetime:
    """The same day and time `months` later; the 31st becomes the month's last day."""
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def validity_end(package: InternetPackage, start: datetime) -> datetime:
    value, unit = package.validity_value, package.validity_unit
    if unit == "months":
        return add_months(start, value)
    return start + timedelta(**{unit: value})


def describe_package(package: InternetPackage) -> str:
    """What a package gives, for vouchers and pages: "1 day, 5G, 2h online"."""
    unit = package.validity_unit if package.validity_value != 1 else package.validity_unit[:-1]
    parts = [f"{package.validity_value} {unit}"]
    if package.limit_bytes_total:
        size, suffix = package.limit_bytes_total, ""
        for suffix_, power in (("T", 4), ("G", 3), ("M", 2), ("K", 1)):
            if size >= 1024**power and size % 1024**power == 0:
                size, suffix = size // 1024**power, suffix_
                break
        parts.append(f"{size}{suffix}B")
    if package.limit_uptime:
        hours, rest = divmod(package.limit_uptime, 3600)
        parts.append(f"{hours}h online" if not rest else f"{package.limit_uptime // 60}m online")
    return ", ".join(parts)


# --- subscriptions -----------------------------------------------------------------------


def not_over(moment: datetime) -> ColumnElement[bool]:
    """Subscriptions running or still to come at `moment`: one waiting for its start
    counts whatever its provisional dates say."""
    return or_(Subscription.awaits_start.is_(True), Subscription.ends_at > moment)


def current_subscription(
    session: Session, login_id: int, now: datetime | None = None
) -> Subscription | None:
    """The subscription giving `login_id` access at `now` (one waiting for its start
    too: the router is to let the login in so that it can start), if any."""
    moment = now or utcnow()
    return session.execute(
        select(Subscription)
        .where(
            Subscription.login_id == login_id,
            Subscription.status == "active",
            Subscription.starts_at <= moment,
            not_over(moment),
        )
        .order_by(Subscription.starts_at, Subscription.id)
        .limit(1)
    ).scalar_one_or_none()


def _queue_place(session: Session, login_id: int, now: datetime) -> tuple[datetime, bool]:
    """Where a new purchase starts and whether it waits for its start: after the login's
    last running or waiting purchase (waiting with it when that one waits), else now,
    waiting for a router to take it."""
    last = session.execute(
        select(Subscription)
        .where(
            Subscription.login_id == login_id,
            Subscription.status == "active",
            not_over(now),
        )
        .order_by(Subscription.ends_at.desc(), Subscription.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    if last is None:
        return now, True
    if last.awaits_start:
        return last.ends_at, True
    return max(now, last.ends_at), False


def _account_of(session: Session, login: HotspotLogin) -> Account:
    if login.customer_id is None:
        raise InvalidInput(f"login {login.username!r} has no customer wallet to pay from")
    account = session.execute(
        select(Account).where(Account.customer_id == login.customer_id).order_by(Account.id)
    ).scalar()
    if account is None:
        raise NotFound(f"customer {login.customer_id} has no wallet")
    return account


def _replayed_purchase(
    session: Session, key: str, login_id: int, package_id: int
) -> Subscription | None:
    existing = session.execute(
        select(Subscription).where(Subscription.purchase_key == key)
    ).scalar_one_or_none()
    if existing is not None and (existing.login_id, existing.package_id) != (login_id, package_id):
        raise IdempotencyConflict(f"key {key!r} was already used for another purchase")
    return existing


def buy_package(
    session: Session,
    login_id: int,
    package: int | str,
    *,
    key: str,
    actor: str = "system",
    auto_renew: bool = False,
    now: datetime | None = None,
) -> Subscription:
    """Debit the package's price from the login owner's wallet and record the
    subscription, in the caller's transaction. Replaying `key` returns the first
    subscription and charges nothing. Bought while another subscription runs, the new
    one starts when that one ends, so no paid time is lost."""
    if not key or len(key) > 150:
        raise InvalidInput("a purchase needs an idempotency key of 1 to 150 characters")
    moment = now or utcnow()
    login = get_login(session, login_id)
    chosen = get_package(session, package)
    account = _account_of(session, login)
    # The wallet lock serializes every purchase of this wallet, so the start computed
    # below cannot be raced by a second purchase for the same login.
    ledger.lock_account(session, account.id)
    if (replay := _replayed_purchase(session, key, login.id, chosen.id)) is not None:
        return replay
    if not chosen.active:
        raise InvalidInput(f"package {chosen.name!r} is no longer sold")
    if login.status != "active":
        raise InvalidInput(f"login {login.username!r} is {login.status}")
    return _record_purchase(session, login, chosen, account, key, actor, auto_renew, moment)


def _record_purchase(
    session: Session,
    login: HotspotLogin,
    package: InternetPackage,
    account: Account,
    key: str,
    actor: str,
    auto_renew: bool,
    moment: datetime,
    *,
    start: datetime | None = None,
    renewed_from_id: int | None = None,
) -> Subscription:
    if start is not None:
        starts_at, waits = start, False
    else:
        starts_at, waits = _queue_place(session, login.id, moment)
    entry = None
    if package.price > 0:
        entry = ledger.spend(
            session,
            account.id,
            package.price,
            key=f"internet:{key}",
            kind="package",
            reference=references.package(package.name, login.username),
            actor=actor,
        )
    subscription = package_subscription(
        package,
        login.id,
        starts_at,
        purchase_key=key,
        price=package.price,
        actor=actor,
        created_at=moment,
        account_id=account.id,
        ledger_entry_id=entry.id if entry is not None else None,
        auto_renew=auto_renew,
        renewed_from_id=renewed_from_id,
        awaits_start=waits,
    )
    login.package_id = package.id
    session.add(subscription)
    session.flush()
    return subscription


def package_subscription(
    package: InternetPackage,
    login_id: int,
    starts_at: datetime,
    *,
    purchase_key: str,
    price: int,
    actor: str,
    created_at: datetime,
    account_id: int | None = None,
    ledger_entry_id: int | None = None,
    voucher_id: int | None = None,
    auto_renew: bool = False,
    renewed_from_id: int | None = None,
    awaits_start: bool = False,
) -> Subscription:
    """A new running subscription of `package` on a login from `starts_at`, with the
    package's validity and quotas as they are now (later changes to the package leave it
    alone). Not added to the session: the caller does that with what pays for it."""
    return Subscription(
        login_id=login_id,
        package_id=package.id,
        account_id=account_id,
        ledger_entry_id=ledger_entry_id,
        voucher_id=voucher_id,
        purchase_key=purchase_key,
        price=price,
        status="active",
        starts_at=starts_at,
        ends_at=validity_end(package, starts_at),
        limit_uptime=package.limit_uptime,
        limit_bytes_total=package.limit_bytes_total,
        auto_renew=auto_renew,
        renewed_from_id=renewed_from_id,
        awaits_start=awaits_start,
        actor=actor,
        created_at=created_at,
    )


def get_subscription(session: Session, subscription_id: int) -> Subscription:
    subscription = session.get(Subscription, subscription_id)
    if subscription is None:
        raise NotFound(f"subscription {subscription_id} does not exist")
    return subscription


def extend_subscription(
    session: Session,
    subscription_id: int,
    days: int,
    *,
    key: str,
    actor: str,
    reason: str = "",
    price: int = 0,
    now: datetime | None = None,
) -> SubscriptionExtension:
    """Add `days` to a subscription, free (a trial, a reward: a reason is required) or
    paid from the owner's wallet, and keep who did it in the extension history.

    Subscriptions queued after this one move by as much, so they still follow it. An
    expired subscription can be extended if it is the login's latest: it runs again
    from now. Replaying `key` returns the first extension.
    """
    if not isinstance(days, int) or not 1 <= days <= MAX_EXTENSION_DAYS:
        raise InvalidInput(f"an extension is 1 to {MAX_EXTENSION_DAYS} days")
    if not isinstance(price, int) or price < 0:
        raise InvalidInput("an extension price is whole micro-units, zero or more")
    reason = (reason or "").strip()
    if price == 0 and not reason:
        raise InvalidInput("a free extension needs a reason (trial, reward, apology ...)")
    if not key or len(key) > 150:
        raise InvalidInput("an extension needs an idempotency key of 1 to 150 characters")
    moment = now or utcnow()
    subscription = get_subscription(session, subscription_id)
    if subscription.account_id is not None:
        ledger.lock_account(session, subscription.account_id)
    session.refresh(subscription)
    existing = session.execute(
        select(SubscriptionExtension).where(SubscriptionExtension.extension_key == key)
    ).scalar_one_or_none()
    if existing is not None:
        if (existing.subscription_id, existing.days, existing.price) != (
            subscription.id,
            days,
            price,
        ):
            raise IdempotencyConflict(f"key {key!r} was already used for another extension")
        return existing
    if subscription.status == "cancelled":
        raise InvalidInput(f"subscription {subscription.id} was cancelled")
    later = list(
        session.execute(
            select(Subscription)
            .where(
                Subscription.login_id == subscription.login_id,
                Subscription.id != subscription.id,
                Subscription.status == "active",
                Subscription.starts_at >= subscription.ends_at,
            )
            .order_by(Subscription.starts_at)
        ).scalars()
    )
    waiting = subscription.awaits_start and subscription.status == "active"
    lapsed = not waiting and (subscription.status == "expired" or subscription.ends_at <= moment)
    if lapsed and later:
        raise InvalidInput(f"subscription {subscription.id} has been followed by another")
    entry = None
    if price > 0:
        if subscription.account_id is None:
            raise InvalidInput("this subscription has no wallet to pay an extension from")
        entry = ledger.spend(
            session,
            subscription.account_id,
            price,
            key=f"internet-ext:{key}",
            kind="package",
            reference=references.extension(subscription.id, days),
            actor=actor,
        )
    old_end = subscription.ends_at
    # A subscription waiting for its start keeps the added days for when it starts.
    new_end = (old_end if waiting else max(old_end, moment)) + timedelta(days=days)
    for follower in later:
        shift = new_end - old_end
        follower.starts_at += shift
        follower.ends_at += shift
    subscription.ends_at = new_end
    if subscription.status == "expired":
        subscription.status = "active"
        subscription.expired_at = None
    extension = SubscriptionExtension(
        subscription_id=subscription.id,
        days=days,
        price=price,
        reason=reason[:200],
        extension_key=key,
        ledger_entry_id=entry.id if entry is not None else None,
        old_ends_at=old_end,
        new_ends_at=new_end,
        actor=actor,
        created_at=moment,
    )
    session.add(extension)
    session.flush()
    return extension


def extensions_of(session: Session, subscription_id: int) -> list[SubscriptionExtension]:
    return list(
        session.execute(
            select(SubscriptionExtension)
            .where(SubscriptionExtension.subscription_id == subscription_id)
            .order_by(SubscriptionExtension.id)
        ).scalars()
    )


def set_auto_renew(session: Session, subscription_id: int, enabled: bool) -> Subscription:
    subscription = get_subscription(session, subscription_id)
    if subscription.account_id is None:
        raise InvalidInput("only a subscription paid from a wallet can renew itself")
    subscription.auto_renew = enabled
    session.flush()
    return subscription


def cancel_subscription(session: Session, subscription_id: int, *, actor: str) -> Subscription:
    """Stop a subscription now, without a refund (an admin refunds with `ledger.refund`
    if the operator wants to); the reconciler then disables the login."""
    subscription = get_subscription(session, subscription_id)
    if subscription.status == "active":
        subscription.status = "cancelled"
        subscription.auto_renew = False
        subscription.expired_at = utcnow()
        subscription.actor = actor[:100]
        session.flush()
    return subscription


@dataclass
class DueReport:
    """What one pass of `process_due` did."""

    renewed: list[int] = field(default_factory=list)  # new subscription ids
    expired: list[int] = field(default_factory=list)
    renewal_failures: dict[int, str] = field(default_factory=dict)


def process_due(session: Session, now: datetime | None = None) -> DueReport:
    """Renew (from the wallet) or expire every subscription whose time is up.

    A renewal is keyed by the subscription it continues, so running this twice, or in
    two processes, renews once. A renewal the wallet cannot pay lets the subscription
    expire; the reconciler then disables the login on the routers.
    """
    moment = now or utcnow()
    report = DueReport()
    due = list(
        session.execute(
            select(Subscription)
            .where(
                Subscription.status == "active",
                Subscription.awaits_start.is_(False),  # nothing ends before it started
                Subscription.ends_at <= moment,
            )
            .order_by(Subscription.ends_at, Subscription.id)
        ).scalars()
    )
    for subscription in due:
        renewal = None
        if subscription.auto_renew:
            try:
                # A savepoint, so a renewal that fails half way leaves nothing behind.
                with session.begin_nested():
                    renewal = renew(session, subscription.id, now=moment)
            except WalletError as error:
                report.renewal_failures[subscription.id] = str(error)
            else:
                if renewal is not None:
                    report.renewed.append(renewal.id)
        subscription.status = "expired"
        subscription.expired_at = moment
        report.expired.append(subscription.id)
        if renewal is None:  # renewed: the package goes on, nothing ended for the customer
            events.emit(session, events.SUBSCRIPTION_ENDED, subscription_id=subscription.id)
    session.flush()
    return report


def renew(
    session: Session, subscription_id: int, *, now: datetime | None = None
) -> Subscription | None:
    """Buy the same package again for the same login, continuing where `subscription`
    ends; None when the login has moved on (a later purchase) or is not active."""
    moment = now or utcnow()
    subscription = get_subscription(session, subscription_id)
    login = get_login(session, subscription.login_id)
    package = get_package(session, subscription.package_id)
    key = f"renew:{subscription.id}"
    account = _account_of(session, login)
    ledger.lock_account(session, account.id)
    if (replay := _replayed_purchase(session, key, login.id, package.id)) is not None:
        return replay
    newer = session.execute(
        select(Subscription.id).where(
            Subscription.login_id == login.id,
            Subscription.id != subscription.id,
            Subscription.status == "active",
            or_(Subscription.awaits_start.is_(True), Subscription.ends_at > subscription.ends_at),
        )
    ).first()
    if newer is not None or login.status != "active" or not package.active:
        return None
    start = subscription.ends_at
    if validity_end(package, start) <= moment:
        start = moment  # pulsa was stopped for longer than a period: renew from now
    return _record_purchase(
        session,
        login,
        package,
        account,
        key,
        "auto-renew",
        True,
        moment,
        start=start,
        renewed_from_id=subscription.id,
    )


def start_subscription(session: Session, subscription_id: int, at: datetime) -> Subscription | None:
    """The validity of a waiting subscription starts at `at` (not before it was bought):
    its end moves with it (days added while it waited kept), and so do the purchases
    queued behind it, which then wait no more. None when it was not waiting (started
    already, by another router's pass, or cancelled). Nothing is charged or refunded."""
    subscription = get_subscription(session, subscription_id)
    if subscription.account_id is not None:
        ledger.lock_account(session, subscription.account_id)  # extensions move it too
    session.refresh(subscription)
    if not subscription.awaits_start or subscription.status != "active":
        return None
    package = get_package(session, subscription.package_id)
    start = max(at, subscription.created_at)
    old_start, old_end = subscription.starts_at, subscription.ends_at
    added = old_end - validity_end(package, old_start)
    new_end = validity_end(package, start) + added
    if new_end <= start:  # the package's validity was shortened meanwhile: keep what was sold
        new_end = start + (old_end - old_start)
    followers = session.execute(
        select(Subscription).where(
            Subscription.login_id == subscription.login_id,
            Subscription.id != subscription.id,
            Subscription.status == "active",
            Subscription.awaits_start.is_(True),
            Subscription.starts_at >= old_end,
        )
    ).scalars()
    shift = new_end - old_end
    for follower in followers:
        follower.starts_at += shift
        follower.ends_at += shift
        follower.awaits_start = False
    subscription.starts_at, subscription.ends_at = start, new_end
    subscription.awaits_start = False
    session.flush()
    return subscription


def mark_on_router(session: Session, subscription_ids: Iterable[int], at: datetime) -> None:
    """Record when a router first held these subscriptions (kept once set)."""
    ids = sorted(set(subscription_ids))
    if not ids:
        return
    for subscription in session.execute(
        select(Subscription).where(Subscription.id.in_(ids), Subscription.on_router_at.is_(None))
    ).scalars():
        subscription.on_router_at = at
    session.flush()


def start_mode(session: Session) -> str:
    """The operator's choice of when a package's validity starts (`START_MODES`)."""
    row = session.get(SiteSetting, "internet_start")
    return row.value if row is not None and row.value in START_MODES else START_MODES[0]


# --- self-registration -------------------------------------------------------------------


def register_for_hotspot(
    session: Session,
    *,
    name: str,
    username: str,
    package: int | str,
    currency: str,
    password: str | None = None,
    phone: str | None = None,
    email: str | None = None,
) -> HotspotLogin:
    """Someone on the hotspot login page asks for an account: a pending customer and a
    pending login (the reconciler puts it on the routers disabled) for the package they
    chose. Nothing is charged until an admin confirms the payment."""
    chosen = get_package(session, package)
    if not chosen.active:
        raise InvalidInput(f"package {chosen.name!r} is no longer sold")
    check_username_free(session, username)
    customer, _account = create_customer(
        session, name, currency=currency, phone=phone, email=email, status="pending"
    )
    return create_login(
        session, customer.id, username, password, status="pending", package_id=chosen.id
    )


def pending_registrations_query() -> Select:
    """Registrations waiting for payment, oldest first, as a statement to page through."""
    return (
        select(HotspotLogin)
        .where(HotspotLogin.status == "pending", HotspotLogin.kind == "customer")
        .order_by(HotspotLogin.id)
    )


def pending_registrations(session: Session) -> list[HotspotLogin]:
    return list(session.execute(pending_registrations_query()).scalars())


def latest_pending_registrations(
    session: Session, *, limit: int = 10
) -> tuple[int, list[HotspotLogin]]:
    """How many registrations wait, and the latest `limit` of them, newest first (the
    staff chat's short list)."""
    waiting = pending_registrations_query().order_by(None)
    count = session.execute(select(func.count()).select_from(waiting.subquery())).scalar_one()
    latest = waiting.order_by(HotspotLogin.id.desc()).limit(limit)
    return int(count), list(session.execute(latest).scalars())


def confirm_registration(
    session: Session,
    login_id: int,
    *,
    amount: int,
    method: str = "cash",
    reference: str | None = None,
    actor: str,
) -> Subscription:
    """The admin saw the payment: credit it, activate the customer and the login, and
    buy the chosen package from the credited wallet, all in one transaction. Confirming
    twice changes nothing the second time."""
    login = get_login(session, login_id)
    key = f"registration:{login.id}"
    if login.package_id is None:
        raise InvalidInput(f"login {login.username!r} has no chosen package")
    account = _account_of(session, login)
    ledger.lock_account(session, account.id)
    replay = _replayed_purchase(session, key, login.id, login.package_id)
    if replay is not None:
        return replay
    if login.status != "pending":
        raise InvalidInput(f"login {login.username!r} is not waiting for confirmation")
    ledger.top_up(
        session,
        account.id,
        amount,
        key=f"{key}:payment",
        method=method,
        reference=reference,
        actor=actor,
        note=references.REGISTRATION_NOTE,
    )
    customer = session.get(Customer, login.customer_id)
    assert customer is not None  # _account_of found its wallet
    customer.status = "active"
    login.status = "active"
    subscription = buy_package(session, login.id, login.package_id, key=key, actor=actor)
    events.emit(
        session,
        events.REGISTRATION_CONFIRMED,
        login_id=login.id,
        subscription_id=subscription.id,
    )
    return subscription


def reject_registration(session: Session, login_id: int) -> HotspotLogin:
    """Refuse a registration: the login is voided (removed from routers by a pruning
    sync) and its name becomes free again only if an admin deletes it."""
    login = get_login(session, login_id)
    if login.status != "pending":
        raise InvalidInput(f"login {login.username!r} is not waiting for confirmation")
    login.status = "void"
    if login.customer_id is not None:
        customer = session.get(Customer, login.customer_id)
        if customer is not None and customer.status == "pending":
            customer.status = "disabled"
    session.flush()
    return login
