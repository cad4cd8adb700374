"""How customers sign in to the portal: their password, the one-time links staff give
them, and who a signed-in customer is.

A customer signs in with their phone number, their customer number or one of their
hotspot user names, and a password: the portal password (set from a one-time link) or,
for a hotspot user name, the hotspot password they already use on the router.

Signed-in sessions live on the server (`wallet.web_sessions`, realm "customer"): signing
out ends this one, a password change every one, so a copied cookie opens nothing after.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

from sqlalchemy import DateTime, ForeignKey, Select, String, bindparam, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column
from werkzeug.security import check_password_hash, generate_password_hash

from wallet import sign_in_throttle
from wallet.errors import InvalidInput, NotFound
from wallet.hotspot_models import HotspotLogin
from wallet.internet import username_key
from wallet.ledger import utcnow
from wallet.models import Account, Base, Customer, Id
from wallet.passwords import MAX_LENGTH, MIN_LENGTH, check_password
from wallet.sign_in_throttle import CUSTOMER
from wallet.sign_in_throttle import SignInThrottled as SignInThrottled
from wallet.staff import record_audit
from wallet.web_sessions import CUSTOMER as CUSTOMER_REALM
from wallet.web_sessions import (
    WebSession,
    end_all_sessions,
    end_session,
    open_session,
    token_hash,
)

LINK_LIFETIME = timedelta(hours=24)
MIN_PASSWORD_LENGTH = MIN_LENGTH
LOCALES = ("en", "id")
# Same cost as a real check when nothing matched, so timing tells nothing about names.
_DUMMY_HASH = generate_password_hash("pulsa-dummy-customer-password")
_SEPARATORS = str.maketrans("", "", " -.()+\t")


class CustomerCredential(Base):
    """The portal side of a customer: password, language, session version."""

    __tablename__ = "customer_credentials"

    customer_id: Mapped[int] = mapped_column(
        Id, ForeignKey("customers.id"), primary_key=True, autoincrement=False
    )
    password_hash: Mapped[str | None] = mapped_column(String(255))
    locale: Mapped[str | None] = mapped_column(String(10))
    password_changed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=False))
    last_sign_in_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=False))


class PortalLink(Base):
    """A one-time link that lets a customer set their portal password. Only a hash of
    the token is stored: a copy of the database opens nobody's portal."""

    __tablename__ = "portal_links"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=False))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=False))
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=False))


@dataclass(frozen=True)
class CustomerPrincipal:
    """The signed-in customer, detached from the database session: what a request needs,
    and the only ids a portal query starts from."""

    customer_id: int
    account_id: int
    name: str
    locale: str | None


def customer_actor(customer_id: int, channel: str = "portal") -> str:
    """Who acted, as written in the audit log and on ledger entries, when a customer did
    something for themselves (through the portal, or a chat bot)."""
    return f"{channel}:customer:{customer_id}"


def portal_link_url(portal_address: str, token: str) -> str:
    """Where a one-time link leads (the portal's first-access page)."""
    return f"{portal_address.rstrip('/')}/welcome/{token}"


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _credential(session: Session, customer_id: int, *, lock: bool = False) -> CustomerCredential:
    statement = select(CustomerCredential).where(CustomerCredential.customer_id == customer_id)
    if lock:
        statement = statement.with_for_update()
    row = session.execute(statement).scalar_one_or_none()
    if row is None:
        row = CustomerCredential(customer_id=customer_id)
        session.add(row)
        session.flush()
    return row


def _wallet_of(session: Session, customer_id: int) -> int | None:
    return session.execute(
        select(Account.id).where(Account.customer_id == customer_id).order_by(Account.id).limit(1)
    ).scalar_one_or_none()


def _principal(session: Session, customer: Customer) -> CustomerPrincipal | None:
    account_id = _wallet_of(session, customer.id)
    if account_id is None:
        return None
    credential = _credential(session, customer.id)
    return CustomerPrincipal(
        customer_id=customer.id,
        account_id=account_id,
        name=customer.name,
        locale=credential.locale,
    )


def open_customer_session(session: Session, customer_id: int, *, lifetime: timedelta) -> str:
    """A signed-in portal session of a customer; returns the token its cookie carries."""
    return open_session(session, CUSTOMER_REALM, customer_id, lifetime=lifetime)


@cache
def _session_customer_query() -> Select:
    # Built once, run with its parameters: building it took more of the CPU than
    # running it (120 us and 230 us; bench/portal.py), before every page of the portal.
    wallet = (
        select(func.min(Account.id)).where(Account.customer_id == Customer.id).scalar_subquery()
    )
    return (
        select(Customer.id, Customer.name, CustomerCredential.locale, wallet.label("account_id"))
        .select_from(WebSession)
        .join(Customer, Customer.id == WebSession.subject_id)
        .outerjoin(CustomerCredential, CustomerCredential.customer_id == Customer.id)
        .where(
            WebSession.token_hash == bindparam("token_hash"),
            WebSession.realm == CUSTOMER_REALM,
            WebSession.expires_at > bindparam("now"),
            Customer.status != "disabled",
        )
    )


def principal_for_session(
    session: Session, token: str, *, now: datetime | None = None
) -> CustomerPrincipal | None:
    """The customer of a session, or None when it was ended (signed out, password
    changed), has expired, or the customer is disabled, gone or has no wallet.

    One query: it runs before every page a customer asks for."""
    if not token:
        return None
    row = session.execute(
        _session_customer_query(), {"token_hash": token_hash(token), "now": now or utcnow()}
    ).first()
    if row is None or row.account_id is None:
        return None
    return CustomerPrincipal(
        customer_id=row.id, account_id=row.account_id, name=row.name, locale=row.locale
    )


def end_customer_session(session: Session, token: str) -> None:
    end_session(session, CUSTOMER_REALM, token)


# --- links ------------------------------------------------------------------------------


def issue_portal_link(
    session: Session,
    customer_id: int,
    *,
    actor: str,
    now: datetime | None = None,
    address: str | None = None,
) -> tuple[str, datetime]:
    """A new one-time token for `customer_id` (valid LINK_LIFETIME) and when it expires.
    The token is returned once and never stored."""
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise NotFound(f"customer {customer_id} does not exist")
    moment = now or utcnow()
    token = secrets.token_urlsafe(32)
    link = PortalLink(
        customer_id=customer_id,
        token_hash=_token_hash(token),
        expires_at=moment + LINK_LIFETIME,
        created_by=actor[:100],
        created_at=moment,
    )
    session.add(link)
    session.flush()
    record_audit(
        session,
        actor,
        "portal.link",
        f"customer {customer_id}",
        after={"link": link.id, "expires_at": link.expires_at},
        address=address,
    )
    return token, link.expires_at


def _usable_link(
    session: Session, token: str, moment: datetime, *, lock: bool = False
) -> PortalLink | None:
    if not token or len(token) > 100:
        return None
    statement = select(PortalLink).where(PortalLink.token_hash == _token_hash(token))
    if lock:
        statement = statement.with_for_update()
    link = session.execute(statement).scalar_one_or_none()
    if link is None or link.used_at is not None or link.expires_at <= moment:
        return None
    return link


def customer_of_link(session: Session, token: str, now: datetime | None = None) -> Customer | None:
    """The customer a still usable link is for (None: unknown, used or expired)."""
    link = _usable_link(session, token, now or utcnow())
    return session.get(Customer, link.customer_id) if link else None


def check_password_rules(password: str, customer: Customer) -> None:
    """The one strength rule of `wallet.passwords` (raises WeakPassword), with the
    customer's name and phone number as what a password must not be made of."""
    if len(password or "") > MAX_LENGTH:
        raise InvalidInput(f"a password has at most {MAX_LENGTH} characters")
    check_password(password or "", names=[customer.name, customer.phone or ""])


def set_password_with_link(
    session: Session,
    token: str,
    password: str,
    *,
    address: str | None = None,
    now: datetime | None = None,
) -> CustomerPrincipal:
    """Use a link once: set the customer's password, end their sessions, and return who
    is to be signed in (the caller opens the new session)."""
    moment = now or utcnow()
    link = _usable_link(session, token, moment, lock=True)
    if link is None:
        raise NotFound("this link is unknown, used or expired")
    customer = session.get(Customer, link.customer_id)
    if customer is None or customer.status == "disabled":
        raise NotFound("this link is unknown, used or expired")
    check_password_rules(password, customer)
    link.used_at = moment
    _store_password(session, customer.id, password, moment)
    actor = customer_actor(customer.id)
    record_audit(session, actor, "portal.password_set", f"customer {customer.id}", address=address)
    principal = _principal(session, customer)
    if principal is None:
        raise NotFound(f"customer {customer.id} has no wallet")
    return principal


def _store_password(session: Session, customer_id: int, password: str, moment: datetime) -> None:
    row = _credential(session, customer_id, lock=True)
    row.password_hash = generate_password_hash(password)
    row.password_changed_at = moment
    end_all_sessions(session, CUSTOMER_REALM, customer_id)
    session.flush()


def change_password(
    session: Session,
    customer_id: int,
    current: str,
    new: str,
    *,
    address: str | None = None,
) -> CustomerPrincipal:
    """A signed-in customer changes their portal password; every session ends (the
    caller opens a new one for this browser with the returned principal)."""
    row = _credential(session, customer_id, lock=True)
    if row.password_hash:
        known = check_password_hash(row.password_hash, current or "")
    else:
        # Signed in with a hotspot login so far: its password proves who they are.
        known = any(
            secrets.compare_digest(login.password.encode(), (current or "").encode())
            for login in session.execute(
                select(HotspotLogin).where(
                    HotspotLogin.customer_id == customer_id, HotspotLogin.kind == "customer"
                )
            ).scalars()
        )
    if not known:
        raise InvalidInput("the current password is wrong")
    check_password_rules(new, session.get(Customer, customer_id))
    _store_password(session, customer_id, new, utcnow())
    record_audit(
        session,
        customer_actor(customer_id),
        "portal.password_change",
        f"customer {customer_id}",
        address=address,
    )
    principal = _principal(session, session.get(Customer, customer_id))
    assert principal is not None
    return principal


def set_locale(session: Session, customer_id: int, locale: str | None) -> None:
    if locale is not None and locale not in LOCALES:
        raise InvalidInput(f"language must be one of {', '.join(LOCALES)}")
    _credential(session, customer_id, lock=True).locale = locale
    session.flush()


# --- sign-in ----------------------------------------------------------------------------


def phone_variants(text: str, *, country_code: str = "", trunk_prefix: str = "0") -> set[str]:
    """The digit strings a phone number may be stored as: as typed without separators,
    and (with the operator's country code) in its national and international forms, so
    "0812-3456-7890", "+62 812 3456 7890" and "6281234567890" find the same customer."""
    digits = (text or "").strip().translate(_SEPARATORS)
    if not digits.isascii() or not digits.isdigit():
        return set()
    variants = {digits}
    if country_code and trunk_prefix:
        if digits.startswith(country_code):
            variants.add(trunk_prefix + digits[len(country_code) :])
        if digits.startswith(trunk_prefix):
            variants.add(country_code + digits[len(trunk_prefix) :])
    return variants


def _stored_digits(column):
    for separator in (" ", "-", ".", "(", ")", "+"):
        column = func.replace(column, separator, "")
    return column


def _candidates(
    session: Session, identifier: str, country_code: str, trunk_prefix: str
) -> list[tuple[Customer, str | None]]:
    """Who `identifier` may name, each with the hotspot password that also opens it (for
    a hotspot user name) or None (the portal password only)."""
    found: list[tuple[Customer, str | None]] = []
    variants = phone_variants(identifier, country_code=country_code, trunk_prefix=trunk_prefix)
    if variants:
        found.extend(
            (customer, None)
            for customer in session.execute(
                select(Customer)
                .where(_stored_digits(Customer.phone).in_(sorted(variants)))
                .order_by(Customer.id)
                .limit(20)
            ).scalars()
        )
        number = identifier.strip().lstrip("#")
        if number.isdigit() and len(number) <= 12:
            customer = session.get(Customer, int(number))
            if customer is not None:
                found.append((customer, None))
    try:
        key = username_key(identifier)
    except (InvalidInput, ValueError):
        key = None
    if key:
        login = session.execute(
            select(HotspotLogin).where(
                HotspotLogin.username_key == key,
                HotspotLogin.kind == "customer",
                HotspotLogin.customer_id.is_not(None),
                HotspotLogin.status.in_(("active", "pending", "disabled")),
            )
        ).scalar_one_or_none()
        if login is not None and login.customer is not None:
            found.append((login.customer, login.password))
    return found


def _opens(
    session: Session, customer: Customer, hotspot_password: str | None, password: str
) -> bool:
    if customer.status == "disabled":
        return False
    if hotspot_password is not None and secrets.compare_digest(
        hotspot_password.encode(), password.encode()
    ):
        return True
    row = session.get(CustomerCredential, customer.id)
    return bool(row and row.password_hash and check_password_hash(row.password_hash, password))


def authenticate_customer(
    session: Session,
    identifier: str,
    password: str,
    *,
    address: str,
    country_code: str = "",
    trunk_prefix: str = "0",
    now: datetime | None = None,
) -> CustomerPrincipal | None:
    """Check a portal sign-in. None for a wrong name or password (one answer for all);
    the failure is counted per (name, address) and per address (wallet.sign_in_throttle)
    in the caller's transaction, which must commit. Raises SignInThrottled while this name
    from this address, or this address at all, must wait."""
    moment = now or utcnow()
    name = (identifier or "").strip().lower()[:100]
    sign_in_throttle.check_allowed(session, CUSTOMER, name, address, now=moment)
    password = password or ""
    candidates = _candidates(session, name, country_code, trunk_prefix) if name else []
    chosen = next((c for c, hp in candidates if _opens(session, c, hp, password)), None)
    if not candidates:
        check_password_hash(_DUMMY_HASH, password)
    principal = _principal(session, chosen) if chosen is not None else None
    if principal is None:
        sign_in_throttle.record_failure(session, CUSTOMER, name, address, now=moment)
        return None
    sign_in_throttle.record_success(session, CUSTOMER, name, address)
    _credential(session, chosen.id).last_sign_in_at = moment
    session.flush()
    return principal
