"""The outbox: notices to send to someone's chat, written in the caller's transaction.

A notice commits with the event it reports or not at all (a rollback leaves neither), and
its key is unique, so a retried event enqueues it once. A worker (the chat bots) sends the
pending ones and marks them sent, or counts the failure and tries again later.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from messaging.models import Notice
from wallet.errors import InvalidInput
from wallet.ledger import utcnow
from wallet.staff import record_audit

MAX_KEY_LENGTH = 160


def enqueue_notice(
    session: Session,
    key: str,
    recipient: str,
    channel: str,
    payload: dict,
    *,
    actor: str,
    now: datetime | None = None,
) -> tuple[Notice, bool]:
    """Add a pending notice, unless one with `key` exists. Returns the notice and whether
    this call added it.

    The insert runs in a savepoint: when another transaction added the same key just
    before (the unique index refuses ours), the caller's transaction goes on with theirs.
    """
    key = (key or "").strip()
    if not key or len(key) > MAX_KEY_LENGTH:
        raise InvalidInput(f"a notice key has 1 to {MAX_KEY_LENGTH} characters")
    if not recipient:
        raise InvalidInput("a notice needs a recipient")
    existing = _notice_by_key(session, key)
    if existing is not None:
        return existing, False
    moment = now or utcnow()
    notice = Notice(
        key=key,
        recipient=recipient[:200],
        channel=channel,
        payload=json.dumps(payload, sort_keys=True, ensure_ascii=False, default=str),
        status="pending",
        attempts=0,
        next_attempt_at=moment,
        created_at=moment,
    )
    try:
        with session.begin_nested():
            session.add(notice)
            session.flush()
    except IntegrityError:
        existing = _notice_by_key(session, key)
        if existing is None:
            raise
        return existing, False
    record_audit(
        session, actor, "notice.enqueue", f"notice {notice.id}", after={"key": key, "to": recipient}
    )
    return notice, True


def _notice_by_key(session: Session, key: str) -> Notice | None:
    return session.execute(select(Notice).where(Notice.key == key)).scalar_one_or_none()


def due_notices(session: Session, now: datetime | None = None, limit: int = 50) -> list[Notice]:
    """Pending notices whose time has come, oldest first, locked for this worker (others
    skip them instead of sending them too)."""
    moment = now or utcnow()
    statement = (
        select(Notice)
        .where(Notice.status == "pending", Notice.next_attempt_at <= moment)
        .order_by(Notice.next_attempt_at, Notice.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name != "sqlite":
        statement = statement.with_for_update(skip_locked=True)
    return list(session.execute(statement).scalars())


def mark_sent(session: Session, notice: Notice, now: datetime | None = None) -> None:
    notice.status = "sent"
    notice.attempts += 1
    notice.sent_at = now or utcnow()
    notice.last_error = None
    session.flush()


def mark_failed(
    session: Session,
    notice: Notice,
    error: str,
    *,
    now: datetime | None = None,
    max_attempts: int = 8,
) -> None:
    """Count a failed attempt; try again later (waiting twice as long each time), or give
    up after `max_attempts`."""
    moment = now or utcnow()
    notice.attempts += 1
    notice.last_error = (error or "")[:2000]
    if notice.attempts >= max_attempts:
        notice.status = "failed"
    else:
        notice.next_attempt_at = moment + timedelta(seconds=30 * 2 ** (notice.attempts - 1))
    session.flush()


def notice_payload(notice: Notice) -> dict:
    return json.loads(notice.payload)
