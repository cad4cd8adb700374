"""Broadcasts: a message from the operator pushed once into customers' chats (Telegram,
LINE), to every customer with a linked chat or to the current users of one package or
one router.

Sending writes the broadcast, one recipient row and one outbox notice per chat, and an
audit record, in one transaction: the delivery worker sends the notices, and the
broadcast's progress is their status (sent, pending, failed). Each notice's key is
`broadcast:<id>:<platform>:<chat>`, so a retried transaction or a second worker never
sends a chat the same broadcast twice; the form's key makes a form submitted twice one
broadcast.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from messaging.actors import Actor
from messaging.audiences import audience_chats, checked_audience
from messaging.errors import NotAllowed
from messaging.models import Broadcast, BroadcastRecipient, Notice
from wallet.errors import InvalidInput, NotFound
from wallet.ledger import utcnow
from wallet.staff import record_audit
from wallet.text import check_text

MAX_TEXT_LENGTH = 2000
#: The kind of a broadcast's notices (messaging.notifications.ANNOUNCEMENT): the worker
#: sends their text as written, and a customer who turned announcements off gets none.
NOTICE_KIND = "announcement"
_BATCH = 500


def notice_key(broadcast_id: int, platform: str, chat_id: str) -> str:
    return f"broadcast:{broadcast_id}:{platform}:{chat_id}"


def recipient_chats(
    session: Session,
    audience: str,
    *,
    package_id: int | None = None,
    router_id: int | None = None,
    now: datetime | None = None,
) -> list[tuple[int, str, str, str]]:
    """(customer id, platform, chat id, language) of every chat linked to a customer of
    the audience who is not disabled and has not turned announcements off, in a stable
    order (messaging.audiences, shared with announcements)."""
    return audience_chats(
        session, audience, NOTICE_KIND, package_id=package_id, router_id=router_id, now=now
    )


def send_broadcast(
    session: Session,
    actor: Actor,
    *,
    form_key: str,
    text: str,
    audience: str = "all",
    package_id: int | None = None,
    router_id: int | None = None,
    now: datetime | None = None,
    address: str | None = None,
) -> tuple[Broadcast, bool]:
    """Send `text` to the audience's chats: returns the broadcast and whether this call
    made it (False: the same form was sent before, nothing more is enqueued)."""
    if not actor.is_staff:
        raise NotAllowed("only staff send broadcasts")
    form_key = (form_key or "").strip()
    if not form_key or len(form_key) > 64:
        raise InvalidInput("a broadcast needs its form key")
    earlier = _by_form_key(session, form_key)
    if earlier is not None:
        return earlier, False
    text = check_text((text or "").strip(), "the message", multiline=True)
    if not text:
        raise InvalidInput("write the message")
    if len(text) > MAX_TEXT_LENGTH:
        raise InvalidInput(f"a broadcast has at most {MAX_TEXT_LENGTH} characters")
    package_id, router_id = checked_audience(session, audience, package_id, router_id)
    moment = now or utcnow()
    broadcast = Broadcast(
        form_key=form_key,
        text=text,
        audience=audience,
        package_id=package_id,
        router_id=router_id,
        recipients=0,
        created_by=actor.name[:60],
        created_at=moment,
    )
    try:
        with session.begin_nested():
            session.add(broadcast)
            session.flush()
    except IntegrityError:
        # The same form, submitted twice at once: the other submit made it.
        earlier = _by_form_key(session, form_key)
        if earlier is None:
            raise
        return earlier, False
    chats = recipient_chats(
        session, audience, package_id=package_id, router_id=router_id, now=moment
    )
    recipients, notices = [], []
    for customer_id, platform, chat_id, language in chats:
        key = notice_key(broadcast.id, platform, chat_id)
        recipients.append(
            {
                "broadcast_id": broadcast.id,
                "customer_id": customer_id,
                "platform": platform,
                "chat_id": chat_id,
                "notice_key": key,
            }
        )
        notices.append(
            {
                "key": key,
                "recipient": f"{platform}:{chat_id}",
                "channel": platform,
                "payload": json.dumps(
                    {
                        "kind": NOTICE_KIND,
                        "broadcast": broadcast.id,
                        "customer": customer_id,
                        "language": language,
                        "text": text,
                    },
                    sort_keys=True,
                    ensure_ascii=False,
                ),
                "kind": NOTICE_KIND,
                "status": "pending",
                "attempts": 0,
                "next_attempt_at": moment,
                "created_at": moment,
            }
        )
    for start in range(0, len(notices), _BATCH):
        session.execute(insert(Notice), notices[start : start + _BATCH])
        session.execute(insert(BroadcastRecipient), recipients[start : start + _BATCH])
    broadcast.recipients = len(notices)
    session.flush()
    record_audit(
        session,
        actor.name,
        "broadcast.send",
        f"broadcast {broadcast.id}",
        after={
            "audience": audience,
            "package": package_id,
            "router": router_id,
            "recipients": len(notices),
        },
        address=address,
    )
    return broadcast, True


def _by_form_key(session: Session, form_key: str) -> Broadcast | None:
    # A locking read: on MariaDB a plain one would read this transaction's old snapshot
    # and miss the broadcast another submit just committed.
    return session.execute(
        select(Broadcast).where(Broadcast.form_key == form_key).with_for_update()
    ).scalar_one_or_none()


@dataclass(frozen=True)
class Progress:
    """How far a broadcast's delivery is: its notices by status."""

    recipients: int
    sent: int
    pending: int
    failed: int

    @property
    def done(self) -> bool:
        return self.pending == 0

    @property
    def percent(self) -> int:
        """Notices no longer pending, in percent (100 when there were none)."""
        if not self.recipients:
            return 100
        return (self.sent + self.failed) * 100 // self.recipients


def broadcast_progress(session: Session, broadcast_id: int) -> Progress:
    broadcast = session.get(Broadcast, broadcast_id)
    if broadcast is None:
        raise NotFound(f"broadcast {broadcast_id} does not exist")
    counts = dict(
        session.execute(
            select(Notice.status, func.count(Notice.id))
            .join(BroadcastRecipient, BroadcastRecipient.notice_key == Notice.key)
            .where(BroadcastRecipient.broadcast_id == broadcast_id)
            .group_by(Notice.status)
        ).all()
    )
    return Progress(
        recipients=broadcast.recipients,
        sent=int(counts.get("sent", 0)),
        pending=int(counts.get("pending", 0)),
        # A chat unlinked before the worker got to it has nobody to send to: not delivered.
        failed=int(counts.get("failed", 0)) + int(counts.get("no_chat", 0)),
    )


def all_broadcasts() -> Select:
    """Every broadcast, the latest first."""
    return select(Broadcast).order_by(Broadcast.created_at.desc(), Broadcast.id.desc())
