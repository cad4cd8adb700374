"""Customers, their wallets and the SIP identities that tell who is calling."""

from __future__ import annotations

import re

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from rating.numbers import NotANumber, normalize_number
from wallet.errors import InvalidInput, NotFound
from wallet.ledger import utcnow
from wallet.models import Account, Customer, SipIdentity, TariffPlan
from wallet.text import check_text, whole_number

CUSTOMER_KINDS = ("individual", "organization")
CUSTOMER_STATUSES = ("active", "pending", "disabled")
IDENTITY_KINDS = ("callerid", "peer", "accountcode")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PHONE = re.compile(r"^\+?[0-9][0-9 .\-]{2,30}$")


def create_customer(
    session: Session,
    name: str,
    *,
    currency: str,
    phone: str | None = None,
    email: str | None = None,
    kind: str = "individual",
    status: str = "active",
    credit_limit: int = 0,
    tariff_plan: str | None = None,
) -> tuple[Customer, Account]:
    """A customer with one wallet in the operator's currency."""
    name = check_text((name or "").strip(), "a name")
    if not name:
        raise InvalidInput("a customer needs a name")
    if len(name) > 200:
        raise InvalidInput("a name can have at most 200 characters")
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
    if credit_limit < 0:
        raise InvalidInput("a credit limit cannot be negative")
    plan_id = None
    if tariff_plan:
        plan = session.execute(
            select(TariffPlan).where(TariffPlan.name == tariff_plan)
        ).scalar_one_or_none()
        if plan is None:
            raise NotFound(f"tariff plan {tariff_plan!r} does not exist")
        plan_id = plan.id
    now = utcnow()
    customer = Customer(
        name=name, phone=phone, email=email, kind=kind, status=status, created_at=now
    )
    account = Account(
        customer=customer,
        currency=currency,
        balance=0,
        held=0,
        credit_limit=credit_limit,
        status="active",
        tariff_plan_id=plan_id,
        created_at=now,
    )
    session.add_all([customer, account])
    session.flush()
    return customer, account


def add_identity(
    session: Session,
    account_id: int,
    kind: str,
    value: str,
    *,
    country_code: str = "",
    trunk_prefix: str = "0",
) -> SipIdentity:
    """Say that calls carrying this caller ID, SIP peer or account code pay from here.

    A caller ID is stored in the form the AGI looks it up in, whatever way it was typed:
    digits only, international (0812..., +62812... and 62812... are all 62812... with
    the operator's country code 62; without one, 0812... stays as it is)."""
    if kind not in IDENTITY_KINDS:
        raise InvalidInput(f"identity kind must be one of {', '.join(IDENTITY_KINDS)}")
    value = check_text((value or "").strip(), "an identity")
    if not value:
        raise InvalidInput("an identity needs a value")
    if kind == "callerid":
        value = normal_caller_id(value, country_code=country_code, trunk_prefix=trunk_prefix)
    if session.get(Account, account_id) is None:
        raise NotFound(f"account {account_id} does not exist")
    taken = session.execute(
        select(SipIdentity).where(SipIdentity.kind == kind, SipIdentity.value == value)
    ).scalar_one_or_none()
    if taken is not None:
        if taken.account_id == account_id:
            return taken
        raise InvalidInput(f"{kind} {value!r} already belongs to account {taken.account_id}")
    identity = SipIdentity(account_id=account_id, kind=kind, value=value)
    session.add(identity)
    session.flush()
    return identity


def normal_caller_id(value: str, *, country_code: str = "", trunk_prefix: str = "0") -> str:
    """A caller ID as stored and looked up (see `add_identity`)."""
    try:
        return normalize_number(value, country_code=country_code, trunk_prefix=trunk_prefix)
    except NotANumber:
        raise InvalidInput(f"a caller ID is a telephone number, not {value!r}") from None


def find_account_by_identity(session: Session, kind: str, value: str) -> Account | None:
    return session.execute(
        select(Account)
        .join(SipIdentity, SipIdentity.account_id == Account.id)
        .where(SipIdentity.kind == kind, SipIdentity.value == value)
    ).scalar_one_or_none()


def get_customer(session: Session, customer_id: int) -> Customer:
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise NotFound(f"customer {customer_id} does not exist")
    return customer


def search_customers(
    session: Session, text: str | None = None, *, limit: int = 100, offset: int = 0
) -> list[Customer]:
    statement = select(Customer).order_by(Customer.id).limit(limit).offset(offset)
    if text:
        pattern = f"%{text.strip()}%"
        statement = statement.where(
            or_(
                Customer.name.ilike(pattern),
                Customer.phone.ilike(pattern),
                Customer.email.ilike(pattern),
            )
        )
    return list(session.execute(statement).scalars())


def search_customer_accounts(
    session: Session, text: str, *, limit: int = 5
) -> list[tuple[Customer, Account]]:
    """Customers whose name, phone or e-mail contains `text`, or whose account number it
    is (digits 0 to 9), with their wallet, newest first: the admin's customer search, for
    a staff member who is not in the admin (the staff chat)."""
    text = (text or "").strip()[:100]
    if not text:
        return []
    pattern = f"%{text}%"
    conditions = [
        Customer.name.ilike(pattern),
        Customer.phone.ilike(pattern),
        Customer.email.ilike(pattern),
    ]
    number = whole_number(text)
    if number is not None:
        conditions.append(Account.id == number)
    return [
        tuple(row)
        for row in session.execute(
            select(Customer, Account)
            .join(Account, Account.customer_id == Customer.id)
            .where(or_(*conditions))
            .order_by(Customer.id.desc())
            .limit(limit)
        ).all()
    ]
