"""Notifications to customers: what each kind says (English and Indonesian), whether the
customer turned it off, and enqueueing it in the transaction of the event it reports.

A notice's payload keeps the facts (amounts in micro-units, names, times), not sentences:
each chat gets it in its own language when the worker sends it, and the portal shows it in
the page's language. The texts live in messaging's own catalogue
(messaging/translations/<locale>/LC_MESSAGES/messages.po), shared by the chat worker and
the portal, which both read notices.

Why here: wallet/ must not import messaging (messaging imports wallet), so the events
that wallet services carry out (a payment confirmed) get their notice from the services
in this module, which call the wallet service and enqueue in the same transaction
(`confirm_payment`, `reject_payment` below); adapters call these, never the wallet's
directly, so a notice cannot be forgotten by one of them.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import lru_cache
from pathlib import Path

from babel.support import NullTranslations, Translations
from sqlalchemy import select
from sqlalchemy.orm import Session

from messaging.models import Notice, NotificationSetting
from messaging.outbox import ALL_CHATS, enqueue_notice, notice_payload
from rating.money import format_money
from wallet import payments as wallet_payments
from wallet.ledger import utcnow
from wallet.models import Account
from wallet.payments import PaymentRequest

TRANSLATIONS = Path(__file__).resolve().parent / "translations"
LANGUAGES = ("en", "id")

PAYMENT_CONFIRMED = "payment-confirmed"
PAYMENT_REJECTED = "payment-rejected"
LOW_BALANCE = "low-balance"
PACKAGE_ENDING = "package-ending"
PACKAGE_ENDED = "package-ended"
REGISTRATION_CONFIRMED = "registration-confirmed"
STAFF_REPLY = "conversation-reply"
ANNOUNCEMENT = "announcement"


def N_(text: str) -> str:
    return text


# The kinds a customer can turn off, in the order the portal lists them, with their names.
KINDS: dict[str, str] = {
    PAYMENT_CONFIRMED: N_("Payment confirmed"),
    PAYMENT_REJECTED: N_("Payment rejected"),
    LOW_BALANCE: N_("Low balance"),
    PACKAGE_ENDING: N_("Package ending in 24 hours"),
    PACKAGE_ENDED: N_("Package ended"),
    REGISTRATION_CONFIRMED: N_("Registration confirmed"),
    STAFF_REPLY: N_("Replies from the operator"),
    ANNOUNCEMENT: N_("Announcements"),
}

_TEXTS: dict[str, str] = {
    PAYMENT_CONFIRMED: N_(
        "Your payment of %(amount)s is confirmed. Your balance is now %(balance)s."
    ),
    PAYMENT_REJECTED: N_("Your payment of %(amount)s was rejected: %(reason)s"),
    LOW_BALANCE: N_("Your balance is low: %(balance)s. Top up to keep calling and browsing."),
    PACKAGE_ENDING: N_("Your package %(package)s ends on %(ends_at)s (UTC)."),
    PACKAGE_ENDED: N_("Your package %(package)s has ended."),
    REGISTRATION_CONFIRMED: N_(
        "Your registration is confirmed. Hotspot login: %(login)s, password: %(password)s"
    ),
}


@lru_cache(maxsize=8)
def _catalogue(language: str) -> NullTranslations:
    if language == "en":
        return NullTranslations()
    return Translations.load(str(TRANSLATIONS), [language], domain="messages")


def gettext_for(language: str | None) -> Callable[[str], str]:
    return _catalogue(language if language in LANGUAGES else "en").gettext


def kind_label(kind: str, language: str | None) -> str:
    return gettext_for(language)(KINDS.get(kind, kind))


def render(kind: str, payload: dict, language: str | None) -> str:
    """The notice's text in `language` (English when unknown). Staff replies and
    announcements are written by people: their text goes as it is."""
    if kind in (STAFF_REPLY, ANNOUNCEMENT) or kind not in _TEXTS:
        return str(payload.get("text") or "")
    values = dict(payload)
    precision = int(payload.get("precision") or 0)
    currency = str(payload.get("currency") or "")
    for name in ("amount", "balance"):
        if isinstance(payload.get(name), int):
            values[name] = format_money(payload[name], precision, currency)
    return gettext_for(language)(_TEXTS[kind]) % _Missing(values)


def render_notice(notice: Notice, language: str | None) -> str:
    return render(notice.kind, notice_payload(notice), language)


class _Missing(dict):
    """Formatting values: a field a payload lacks shows empty instead of failing."""

    def __missing__(self, key: str) -> str:
        return ""


# --- the customer's choices -----------------------------------------------------------------


def enabled_kinds(session: Session, customer_id: int) -> set[str]:
    off = set(
        session.execute(
            select(NotificationSetting.kind).where(
                NotificationSetting.customer_id == customer_id,
                NotificationSetting.enabled.is_(False),
            )
        ).scalars()
    )
    return set(KINDS) - off


def wants(session: Session, customer_id: int, kind: str) -> bool:
    row = session.execute(
        select(NotificationSetting.enabled).where(
            NotificationSetting.customer_id == customer_id, NotificationSetting.kind == kind
        )
    ).scalar_one_or_none()
    return row is not False


def save_choices(
    session: Session, customer_id: int, enabled: set[str], *, now: datetime | None = None
) -> None:
    """The customer's choice: the kinds in `enabled` on, the others off."""
    moment = now or utcnow()
    rows = {
        row.kind: row
        for row in session.execute(
            select(NotificationSetting).where(NotificationSetting.customer_id == customer_id)
        ).scalars()
    }
    for kind in KINDS:
        on = kind in enabled
        row = rows.get(kind)
        if row is None:
            session.add(
                NotificationSetting(
                    customer_id=customer_id, kind=kind, enabled=on, updated_at=moment
                )
            )
        elif row.enabled != on:
            row.enabled = on
            row.updated_at = moment
    session.flush()


def recent_notices(session: Session, customer_id: int, limit: int = 10) -> list[Notice]:
    """The customer's latest notices, newest first (the portal shows them)."""
    return list(
        session.execute(
            select(Notice)
            .where(Notice.recipient == f"customer:{customer_id}")
            .order_by(Notice.id.desc())
            .limit(limit)
        ).scalars()
    )


# --- enqueueing -------------------------------------------------------------------------------


def notify_customer(
    session: Session,
    customer_id: int,
    kind: str,
    key: str,
    payload: dict,
    *,
    actor: str,
    now: datetime | None = None,
) -> Notice | None:
    """Enqueue a notice of `kind` to every chat of the customer, in the caller's
    transaction, unless the customer turned that kind off (then None)."""
    if not wants(session, customer_id, kind):
        return None
    notice, _ = enqueue_notice(
        session,
        f"{kind}:{key}",
        f"customer:{customer_id}",
        ALL_CHATS,
        payload,
        actor=actor,
        now=now,
        kind=kind,
    )
    return notice


def _money_facts(session: Session, account: Account, settings_precision: int | None) -> dict:
    return {
        "currency": account.currency,
        "precision": settings_precision if settings_precision is not None else 0,
    }


def confirm_payment(
    session: Session,
    request_id: int,
    *,
    actor: str,
    address: str | None = None,
    precision: int | None = None,
) -> tuple[PaymentRequest, bool]:
    """wallet.payments.confirm_payment, and its notice in the same transaction."""
    request, credited = wallet_payments.confirm_payment(
        session, request_id, actor=actor, address=address
    )
    if credited:
        account = session.get(Account, request.account_id)
        notify_customer(
            session,
            account.customer_id,
            PAYMENT_CONFIRMED,
            str(request.id),
            {
                "amount": request.amount,
                "balance": account.balance,
                **_money_facts(session, account, precision),
            },
            actor=actor,
        )
    return request, credited


def reject_payment(
    session: Session,
    request_id: int,
    reason: str,
    *,
    actor: str,
    address: str | None = None,
    precision: int | None = None,
) -> PaymentRequest:
    """wallet.payments.reject_payment, and its notice (with the reason) in the same
    transaction."""
    request = wallet_payments.reject_payment(
        session, request_id, reason, actor=actor, address=address
    )
    account = session.get(Account, request.account_id)
    notify_customer(
        session,
        account.customer_id,
        PAYMENT_REJECTED,
        str(request.id),
        {
            "amount": request.amount,
            "reason": request.reject_reason,
            **_money_facts(session, account, precision),
        },
        actor=actor,
    )
    return request
