"""What wallet services did, for whoever reports it, in the same transaction.

wallet must not import messaging (messaging imports wallet), yet a confirmed payment and
its notice commit together. So a wallet service only notes the event on its session
(`emit`); messaging.notifications.watch(database) turns the events into outbox notices
just before the transaction commits (SQLAlchemy's before_commit), inside it: a rollback
leaves neither. Without a watcher the events are simply dropped with the session.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

EVENTS_KEY = "pulsa.events"

PAYMENT_CONFIRMED = "payment_confirmed"  # request_id
PAYMENT_REJECTED = "payment_rejected"  # request_id
REGISTRATION_CONFIRMED = "registration_confirmed"  # login_id, subscription_id
BALANCE_LOWERED = "balance_lowered"  # account_id, before, after, entry_id
SUBSCRIPTION_ENDED = "subscription_ended"  # subscription_id


def emit(session: Session, name: str, **data: object) -> None:
    session.info.setdefault(EVENTS_KEY, []).append((name, data))


def take(session: Session) -> list[tuple[str, dict]]:
    """The events noted since the last take, oldest first (and forget them)."""
    return session.info.pop(EVENTS_KEY, [])


def forget(session: Session) -> None:
    session.info.pop(EVENTS_KEY, None)
