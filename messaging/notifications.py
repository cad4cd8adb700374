"""Notifications to customers: what each kind says (English and Indonesian), whether the
customer turned it off, and enqueueing it in the transaction of the event it reports.

A notice's payload keeps the facts (amounts in micro-units, names, times), not sentences:
each chat gets it in its own language when the worker sends it, and the portal shows it in
the page's language. The texts live in messaging's own catalogue
(messaging/translations/<locale>/LC_MESSAGES/messages.po), shared by the chat worker and
the portal, which both read notices.

Why a hook: wallet/ must not import messaging (messaging imports wallet), yet a payment
confirmed and its notice must commit together, whoever confirms it (the admin, the staff
bot). So wallet services note what they did on their session (wallet.events) and
`watch(database, settings)` (messaging.watching, re-exported here) turns those events
into notices just before the commit, inside the transaction: no adapter can forget a
notice, and a rollback leaves neither.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from functools import cache, lru_cache
from pathlib import Path

from babel.support import NullTranslations, Translations
from sqlalchemy import Integer, Select, bindparam, select
from sqlalchemy.orm import Session

from messaging.models import Notice, NotificationSetting
from messaging.outbox import ALL_CHATS, enqueue_notice, notice_payload
from messaging.watching import LOW_BALANCE_KEY, crosses, may_notify
from messaging.watching import watch as watch  # the callers' name for it
from rating.money import format_money
from wallet import events as wallet_events
from wallet.hotspot_models import HotspotLogin, Subscription
from wallet.ledger import utcnow
from wallet.models import Account
from wallet.payments import PaymentRequest
from wallet.site_settings import SiteSetting, load_site_config

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
    # The password is not repeated: the customer chose it, and the outbox keeps no secrets.
    REGISTRATION_CONFIRMED: N_(
        "Your registration is confirmed. Hotspot login: %(login)s (with the password you "
        "chose). Package: %(package)s, until %(ends_at)s (UTC)."
    ),
}


_FROM_THE_PORTAL = N_("The operator answered in your conversation on the portal:")


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
    announcements are written by people: their text goes as it is (a reply in a
    conversation kept on the portal says where it comes from: the chat did not ask)."""
    if kind == STAFF_REPLY and payload.get("elsewhere"):
        heading = gettext_for(language)(_FROM_THE_PORTAL)
        return f"{heading}\n\n{payload.get('text') or ''}".rstrip()
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


def recent_notices(
    session: Session, customer_id: int, limit: int = 10, *, now: datetime | None = None
) -> list[Notice]:
    """The customer's latest notices, newest first (the portal shows them); not those
    waiting for their time, nor announcements: the portal shows those in their own
    panel while they last."""
    found = session.execute(
        _recent_notices_query(),
        {"recipient": f"customer:{customer_id}", "limit": limit, "now": now or utcnow()},
    )
    return list(found.scalars())


@cache
def _recent_notices_query() -> Select:
    # Built once (the portal's home asks it on every visit), run with its parameters.
    return (
        select(Notice)
        .where(
            Notice.recipient == bindparam("recipient"),
            Notice.next_attempt_at <= bindparam("now"),
            Notice.kind != ANNOUNCEMENT,
        )
        .order_by(Notice.id.desc())
        .limit(bindparam("limit", type_=Integer))
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


# --- from wallet's events ----------------------------------------------------------------------


def notices_for_events(
    session: Session, noted: list[tuple[str, dict]], settings, *, threshold: int | None = None
) -> None:
    """The notices of the events noted in this transaction. `threshold`: the low-balance
    threshold as the watch last read it (None: read it now)."""
    if threshold is None:
        threshold = _low_balance_threshold(session)
    if not may_notify(noted, threshold):
        return
    precision = load_site_config(session, settings).display_precision
    actor = "pulsa"
    for name, data in noted:
        if name == wallet_events.PAYMENT_CONFIRMED:
            request = session.get(PaymentRequest, data["request_id"])
            account = session.get(Account, request.account_id)
            notify_customer(
                session,
                account.customer_id,
                PAYMENT_CONFIRMED,
                str(request.id),
                {
                    "amount": request.amount,
                    "balance": account.balance,
                    "currency": account.currency,
                    "precision": precision,
                },
                actor=actor,
            )
        elif name == wallet_events.PAYMENT_REJECTED:
            request = session.get(PaymentRequest, data["request_id"])
            account = session.get(Account, request.account_id)
            notify_customer(
                session,
                account.customer_id,
                PAYMENT_REJECTED,
                str(request.id),
                {
                    "amount": request.amount,
                    "reason": request.reject_reason,
                    "currency": account.currency,
                    "precision": precision,
                },
                actor=actor,
            )
        elif name == wallet_events.BALANCE_LOWERED:
            if crosses(data, threshold):
                account = session.get(Account, data["account_id"])
                notify_customer(
                    session,
                    account.customer_id,
                    LOW_BALANCE,
                    f"{account.id}:{data['entry_id']}",
                    {
                        "balance": data["after"],
                        "threshold": threshold,
                        "currency": account.currency,
                        "precision": precision,
                    },
                    actor=actor,
                )
        elif name == wallet_events.REGISTRATION_CONFIRMED:
            subscription = session.get(Subscription, data["subscription_id"])
            login = session.get(HotspotLogin, data["login_id"])
            notify_customer(
                session,
                login.customer_id,
                REGISTRATION_CONFIRMED,
                str(login.id),
                {
                    "login": login.username,
                    "package": subscription.package.name if subscription.package else "",
                    "ends_at": _minute(subscription.ends_at),
                },
                actor=actor,
            )
        elif name == wallet_events.SUBSCRIPTION_ENDED:
            subscription = session.get(Subscription, data["subscription_id"])
            customer_id = _customer_of_subscription(session, subscription)
            if customer_id is not None:
                notify_customer(
                    session,
                    customer_id,
                    PACKAGE_ENDED,
                    str(subscription.id),
                    {"package": subscription.package.name if subscription.package else ""},
                    actor=actor,
                )


def _low_balance_threshold(session: Session) -> int:
    row = session.get(SiteSetting, LOW_BALANCE_KEY)
    try:
        return int(row.value) if row is not None else 0
    except ValueError:
        return 0


def _minute(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M") if moment else ""


def _customer_of_subscription(session: Session, subscription: Subscription) -> int | None:
    login = session.get(HotspotLogin, subscription.login_id)
    return login.customer_id if login is not None else None


def notify_packages_ending(
    session: Session, *, now: datetime | None = None, within: timedelta = timedelta(hours=24)
) -> int:
    """Enqueue "package ending in 24 hours" for the active subscriptions that end within
    `within` (once each: the key is the subscription and its end, so an extension that
    moves the end gets a new one). Its event is the passing of time: the worker runs this
    every minute, in a transaction of its own. Returns how many were enqueued."""
    moment = now or utcnow()
    ending = session.execute(
        select(Subscription)
        .where(
            Subscription.status == "active",
            Subscription.awaits_start.is_(False),  # its time has not started: no end yet
            Subscription.ends_at > moment,
            Subscription.ends_at <= moment + within,
        )
        .order_by(Subscription.id)
        .limit(1000)
    ).scalars()
    added = 0
    for subscription in ending:
        customer_id = _customer_of_subscription(session, subscription)
        if customer_id is None:
            continue
        key = f"{PACKAGE_ENDING}:{subscription.id}:{_minute(subscription.ends_at)}"
        if session.execute(select(Notice.id).where(Notice.key == key)).first() is not None:
            continue
        if notify_customer(
            session,
            customer_id,
            PACKAGE_ENDING,
            f"{subscription.id}:{_minute(subscription.ends_at)}",
            {
                "package": subscription.package.name if subscription.package else "",
                "ends_at": _minute(subscription.ends_at),
            },
            actor="pulsa",
            now=moment,
        ):
            added += 1
    return added
