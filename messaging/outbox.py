"""The outbox: notices to send to someone's chat, written in the caller's transaction.

A notice commits with the event it reports or not at all (a rollback leaves neither), and
its key is unique, so a retried event enqueues it once. A worker (the chat bots) sends the
pending ones and marks them sent, or counts the failure and tries again later.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from messaging.chats import mark_chat_blocked
from messaging.models import CHAT_CHANNELS, ChatLink, Delivery, Notice
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
    kind: str | None = None,
) -> tuple[Notice, bool]:
    """Add a pending notice, unless one with `key` exists. Returns the notice and whether
    this call added it.

    `recipient` is "customer:<id>", "staff:<id>" or a chat's contact key
    ("telegram:<chat id>"); `channel` a chat platform (only that platform's chats of the
    recipient get it) or "chat" (every chat linked to the recipient). `kind` defaults to
    the key's first part ("conversation-reply" for "conversation-reply:42").

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
        kind=(kind if kind is not None else key.split(":", 1)[0])[:40],
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


# --- delivery to chats ----------------------------------------------------------------------
#
# A worker (bots.delivery) routes each new notice to the chats of its recipient (one
# Delivery row each), then, for each delivery: claims it ("sending", with a lease, committed
# BEFORE the request leaves), sends it, and records the outcome. The claim is what makes a
# crash harmless: a delivery still "sending" after its lease was being sent by a worker
# that died or lost its answer; it is never sent again by itself unless the platform drops
# repeats (idempotent platforms), it becomes "uncertain" and staff decide.

ALL_CHATS = "chat"
FINAL_DELIVERY = ("sent", "failed", "uncertain")


#: Why a delivery to a chat that blocked the bot failed without being pushed.
CHAT_BLOCKED = "the chat blocked the bot"


def chats_of(session: Session, recipient: str, channel: str) -> list[tuple[str, str, str, bool]]:
    """The chats a notice for `recipient` goes to: (platform, chat id, language, whether
    the chat blocked the bot)."""
    kind, _, ident = recipient.partition(":")
    platforms = CHAT_CHANNELS if channel == ALL_CHATS else (channel,)
    if kind in ("customer", "staff"):
        if not ident.isdigit():
            return []
        column = ChatLink.customer_id if kind == "customer" else ChatLink.staff_id
        links = session.execute(
            select(ChatLink)
            .where(column == int(ident), ChatLink.platform.in_(platforms))
            .order_by(ChatLink.id)
        ).scalars()
        return [_chat(link) for link in links]
    if kind in CHAT_CHANNELS and ident and kind in platforms:
        link = session.execute(
            select(ChatLink).where(ChatLink.platform == kind, ChatLink.chat_id == ident)
        ).scalar_one_or_none()
        if link is None:
            return [(kind, ident, "en", False)]  # not linked yet: an unknown writer
        return [_chat(link)]
    return []


def route_notices(session: Session, *, now: datetime | None = None, limit: int = 200) -> int:
    """Turn pending notices not yet routed whose time has come (an announcement's waits
    for its start) into one delivery per chat of their recipient (none: the notice is
    "no_chat", shown on the portal only). Returns how many."""
    moment = now or utcnow()
    statement = (
        select(Notice)
        .where(
            Notice.status == "pending",
            Notice.routed_at.is_(None),
            Notice.next_attempt_at <= moment,
        )
        .order_by(Notice.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name != "sqlite":
        statement = statement.with_for_update(skip_locked=True)
    notices = list(session.execute(statement).scalars())
    links = _customer_links(session, notices)
    rows = []
    settled_at_once = set()
    for notice in notices:
        kind, _, ident = notice.recipient.partition(":")
        if kind == "customer" and ident.isdigit():
            platforms = CHAT_CHANNELS if notice.channel == ALL_CHATS else (notice.channel,)
            chats = [c for c in links.get(int(ident), ()) if c[0] in platforms]
        else:
            chats = chats_of(session, notice.recipient, notice.channel)
        rows += [
            {
                "notice_id": notice.id,
                "platform": platform,
                "chat_id": str(chat_id),
                "language": language,
                "status": "failed" if blocked else "pending",
                "last_error": CHAT_BLOCKED if blocked else None,
                "attempts": 0,
                "next_attempt_at": moment,
                "created_at": moment,
            }
            for platform, chat_id, language, blocked in chats
        ]
        notice.routed_at = moment
        if not chats:
            notice.status = "no_chat"
        elif all(blocked for *_, blocked in chats):
            settled_at_once.add(notice.id)
    if rows:
        session.execute(insert(Delivery), rows)
    session.flush()
    # Nothing will be sent for these: they fail now, like a refused send.
    settle_notices(session, settled_at_once, now=moment)
    return len(notices)


def _customer_links(session: Session, notices: list[Notice]) -> dict[int, list]:
    """The chats of every customer these notices are for, in one query."""
    ids = {
        int(ident)
        for kind, _, ident in (n.recipient.partition(":") for n in notices)
        if kind == "customer" and ident.isdigit()
    }
    links: dict[int, list] = {}
    if ids:
        for link in session.execute(
            select(ChatLink).where(ChatLink.customer_id.in_(ids)).order_by(ChatLink.id)
        ).scalars():
            links.setdefault(link.customer_id, []).append(_chat(link))
    return links


def _chat(link: ChatLink) -> tuple[str, str, str, bool]:
    return (link.platform, link.chat_id, link.language or "en", link.blocked_at is not None)


@dataclass(frozen=True)
class DueDelivery:
    """A delivery to send, detached from the session."""

    id: int
    notice_id: int
    platform: str
    chat_id: str
    language: str
    created_at: datetime


def due_deliveries(
    session: Session,
    platforms: Iterable[str],
    *,
    now: datetime | None = None,
    limit: int = 500,
) -> list[DueDelivery]:
    """Pending deliveries whose time has come, oldest first (not claimed: the caller
    claims those it can send now)."""
    moment = now or utcnow()
    rows = session.execute(
        select(
            Delivery.id,
            Delivery.notice_id,
            Delivery.platform,
            Delivery.chat_id,
            Delivery.language,
            Delivery.created_at,
        )
        .where(
            Delivery.status == "pending",
            Delivery.next_attempt_at <= moment,
            Delivery.platform.in_(list(platforms)),
        )
        .order_by(Delivery.next_attempt_at, Delivery.id)
        .limit(limit)
    )
    return [DueDelivery(*row) for row in rows]


def claim_deliveries(
    session: Session, ids: Iterable[int], claim: str, lease_until: datetime
) -> set[int]:
    """Mark these pending deliveries "sending" for the attempt `claim` until
    `lease_until`; returns the ids this call claimed (another worker may have taken some).
    The caller commits before sending."""
    wanted = list(ids)
    if not wanted:
        return set()
    session.execute(
        update(Delivery)
        .where(Delivery.id.in_(wanted), Delivery.status == "pending")
        .values(status="sending", claim=claim, lease_until=lease_until)
        .execution_options(synchronize_session=False)
    )
    return set(
        session.execute(
            select(Delivery.id).where(Delivery.id.in_(wanted), Delivery.claim == claim)
        ).scalars()
    )


@dataclass(frozen=True)
class Outcome:
    """What became of one claimed delivery. status: "sent", "pending" (try again at
    `retry_at`), "failed" or "uncertain"."""

    delivery_id: int
    claim: str
    status: str
    error: str | None = None
    retry_at: datetime | None = None
    message_id: str | None = None
    counts_as_attempt: bool = True
    chat_blocked: bool = False  # "failed" because the chat blocked the bot


def record_outcomes(
    session: Session, outcomes: Iterable[Outcome], *, now: datetime | None = None
) -> None:
    """Write what became of claimed deliveries, and settle their notices. Only the
    attempt that holds the claim writes (a worker whose lease ran out and was replaced
    changes nothing), except "sent": a platform's acceptance is news worth keeping even
    when the lease had run out and the delivery was declared uncertain meanwhile."""
    moment = now or utcnow()
    outcomes = list(outcomes)
    notice_ids: set[int] = set()
    blocked: set[tuple[str, str]] = set()
    locked = {
        d.id: d
        for d in session.execute(
            select(Delivery)
            .where(Delivery.id.in_([o.delivery_id for o in outcomes]))
            .order_by(Delivery.id)
            .with_for_update()
        ).scalars()
    }
    for outcome in outcomes:
        delivery = locked.get(outcome.delivery_id)
        if delivery is None or delivery.claim != outcome.claim:
            continue
        if delivery.status != "sending" and not (
            outcome.status == "sent" and delivery.status == "uncertain"
        ):
            continue
        if outcome.counts_as_attempt:
            delivery.attempts += 1
        delivery.last_error = (outcome.error or None) and outcome.error[:2000]
        delivery.lease_until = None
        if outcome.status == "sent":
            delivery.status = "sent"
            delivery.sent_at = moment
            delivery.platform_message_id = outcome.message_id
        elif outcome.status == "pending":
            delivery.status = "pending"
            delivery.claim = None
            delivery.next_attempt_at = outcome.retry_at or moment
        else:
            delivery.status = outcome.status
        if outcome.chat_blocked:
            blocked.add((delivery.platform, delivery.chat_id))
        notice_ids.add(delivery.notice_id)
    session.flush()
    for platform, chat_id in sorted(blocked):
        mark_chat_blocked(session, platform, chat_id, moment)
    settle_notices(session, notice_ids, now=moment)


def settle_notices(
    session: Session, notice_ids: Iterable[int], *, now: datetime | None = None
) -> None:
    """A notice whose deliveries all have an outcome is sent (all sent) or failed."""
    moment = now or utcnow()
    wanted = sorted(set(notice_ids))
    if not wanted:
        return
    by_notice: dict[int, list[Delivery]] = {}
    for delivery in session.execute(
        select(Delivery).where(Delivery.notice_id.in_(wanted))
    ).scalars():
        by_notice.setdefault(delivery.notice_id, []).append(delivery)
    notices = {
        n.id: n for n in session.execute(select(Notice).where(Notice.id.in_(wanted))).scalars()
    }
    for notice_id in wanted:
        deliveries = by_notice.get(notice_id, [])
        if not deliveries or any(d.status not in FINAL_DELIVERY for d in deliveries):
            continue
        notice = notices[notice_id]
        notice.attempts = max(d.attempts for d in deliveries)
        if all(d.status == "sent" for d in deliveries):
            notice.status = "sent"
            notice.sent_at = max(d.sent_at or moment for d in deliveries)
            notice.last_error = None
        else:
            notice.status = "failed"
            notice.last_error = "; ".join(
                f"{d.platform} {d.chat_id}: {d.status}"
                + (f" ({d.last_error})" if d.last_error else "")
                for d in deliveries
                if d.status != "sent"
            )[:2000]
    session.flush()


def expire_leases(
    session: Session,
    *,
    idempotent_platforms: Iterable[str] = (),
    now: datetime | None = None,
) -> int:
    """Deliveries still "sending" after their lease: their worker died (or lost its
    answer) somewhere between claiming and recording. Whether the platform got the
    message cannot be known; on a platform that drops a repeated request (same retry
    key) they are sent again, elsewhere they become "uncertain": never a second copy.
    Returns how many."""
    moment = now or utcnow()
    idempotent = set(idempotent_platforms)
    expired = list(
        session.execute(
            select(Delivery)
            .where(Delivery.status == "sending", Delivery.lease_until < moment)
            .with_for_update()
        ).scalars()
    )
    for delivery in expired:
        delivery.lease_until = None
        if delivery.platform in idempotent:
            delivery.status = "pending"
            delivery.claim = None
            delivery.next_attempt_at = moment
        else:
            delivery.status = "uncertain"
            delivery.last_error = "the worker stopped while sending: it may or may not have arrived"
    session.flush()
    settle_notices(session, {d.notice_id for d in expired}, now=moment)
    return len(expired)


def send_again(
    session: Session,
    notice_id: int,
    *,
    actor: str,
    now: datetime | None = None,
    address: str | None = None,
) -> int:
    """Staff send a failed notice again (to the chats that did not get it for sure).
    Returns how many deliveries were put back."""
    moment = now or utcnow()
    notice = session.get(Notice, notice_id, with_for_update=True)
    if notice is None:
        raise InvalidInput(f"notice {notice_id} does not exist")
    again = [
        d
        for d in session.execute(select(Delivery).where(Delivery.notice_id == notice_id))
        .scalars()
        .all()
        if d.status in ("failed", "uncertain")
    ]
    for delivery in again:
        delivery.status = "pending"
        delivery.claim = None
        delivery.attempts = 0
        delivery.next_attempt_at = moment
    if again:
        notice.status = "pending"
        notice.last_error = None
    session.flush()
    record_audit(
        session,
        actor,
        "notice.send_again",
        f"notice {notice.id}",
        after={"deliveries": [d.id for d in again]},
        address=address,
    )
    return len(again)


def notice_counts(session: Session) -> dict[str, int]:
    """How many notices are in each status (the admin's Notices screen)."""
    return dict(
        session.execute(select(Notice.status, func.count(Notice.id)).group_by(Notice.status)).all()
    )
