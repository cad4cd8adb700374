"""Conversations: a customer (or a chat contact) and the staff, one thread per matter.

Every service takes the actor. A customer-side actor reaches only its own conversations:
one it does not own is "not found", exactly like one that does not exist, so an id typed
in a URL tells nothing. Staff reach every conversation (the admin checks the permission).
Messages are appended, never edited or deleted; each service call is audited in the
caller's transaction.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from functools import cache
from pathlib import Path

from sqlalchemy import Select, and_, bindparam, func, select
from sqlalchemy.orm import Session, selectinload

from messaging.actors import CUSTOMER, PULSA, STAFF, Actor
from messaging.errors import ConversationClosed, NotAllowed
from messaging.models import CHANNELS, CHAT_CHANNELS, TOPICS, Conversation, Message
from messaging.notifications import STAFF_REPLY, wants
from messaging.outbox import ALL_CHATS, enqueue_notice
from wallet.errors import InvalidInput, NotFound
from wallet.ledger import utcnow
from wallet.models import Customer
from wallet.payments import store_proof
from wallet.staff import StaffUser, record_audit
from wallet.text import check_text

MAX_TEXT_LENGTH = 4000


def store_message_image(folder: Path, data: bytes) -> str:
    """Save a photo sent with a message, checked and named exactly like a payment proof
    (content must be PNG, JPEG or GIF; random name; size limit)."""
    return store_proof(folder, data, what="image")


# --- reaching a conversation -------------------------------------------------------------


def _owned_by(actor: Actor):
    """The condition selecting the conversations of a customer-side actor."""
    if actor.customer_id is not None:
        return Conversation.customer_id == actor.customer_id
    if actor.contact_key:
        return and_(
            Conversation.customer_id.is_(None), Conversation.contact_key == actor.contact_key
        )
    raise NotAllowed("this customer side has no identity")


def get_conversation(
    session: Session, actor: Actor, conversation_id: int, *, lock: bool = False
) -> Conversation:
    statement = select(Conversation).where(Conversation.id == conversation_id)
    if actor.kind == CUSTOMER:
        statement = statement.where(_owned_by(actor))
    if lock:
        statement = statement.with_for_update().execution_options(populate_existing=True)
    conversation = session.execute(statement).scalar_one_or_none()
    if conversation is None:
        raise NotFound(f"conversation {conversation_id} does not exist")
    return conversation


def conversations_of(actor: Actor) -> Select:
    """A customer side's conversations, latest activity first (for a list to paginate)."""
    return (
        select(Conversation)
        .where(_owned_by(actor))
        .order_by(Conversation.last_message_at.desc(), Conversation.id.desc())
    )


def conversations_with_status(status: str | None) -> Select:
    """The staff's list: conversations with `status` (all when None), latest first."""
    statement = (
        select(Conversation)
        .options(selectinload(Conversation.customer), selectinload(Conversation.assigned_staff))
        .order_by(Conversation.last_message_at.desc(), Conversation.id.desc())
    )
    if status is not None:
        statement = statement.where(Conversation.status == status)
    return statement


def messages_of(
    session: Session, conversation: Conversation, after_id: int = 0, limit: int = 500
) -> list[Message]:
    """The conversation's messages after message `after_id` (0: from the start), oldest
    first. A polling page passes the last id it shows and gets only the new ones."""
    return list(
        session.execute(
            select(Message)
            .options(selectinload(Message.author_staff))
            .where(Message.conversation_id == conversation.id, Message.id > after_id)
            .order_by(Message.id)
            .limit(limit)
        ).scalars()
    )


# --- changing a conversation -------------------------------------------------------------


def open_conversation(
    session: Session,
    actor: Actor,
    *,
    topic: str,
    text: str,
    image_path: str | None = None,
    customer_id: int | None = None,
    contact_label: str = "",
    message_key: str | None = None,
    now: datetime | None = None,
    address: str | None = None,
) -> Conversation:
    """Start a conversation with its first message. The customer side opens its own;
    staff open one with a customer (`customer_id`). Given the `message_key` of a first
    message posted before (a chat update delivered again), it returns that conversation
    instead of opening a second one."""
    if message_key:
        previous = _message_with_key(session, message_key)
        if previous is not None:
            return get_conversation(session, actor, previous.conversation_id)
    if topic not in TOPICS:
        raise InvalidInput(f"unknown topic {topic!r}")
    _check_channel(actor)
    moment = now or utcnow()
    contact_key = None
    if actor.kind == CUSTOMER:
        customer_id, contact_key = actor.customer_id, actor.contact_key
        if customer_id is None and not contact_key:
            raise NotAllowed("this customer side has no identity")
    elif actor.kind == STAFF:
        if customer_id is None:
            raise InvalidInput("choose the customer to talk with")
    else:
        raise NotAllowed("pulsa does not open conversations")
    if customer_id is not None and session.get(Customer, customer_id) is None:
        raise NotFound(f"customer {customer_id} does not exist")
    _check_message(text, image_path)
    conversation = Conversation(
        customer_id=customer_id,
        contact_key=contact_key,
        contact_label=check_text((contact_label or "").strip(), "the contact's name")[:200],
        topic=topic,
        status="open" if actor.kind == CUSTOMER else "waiting",
        channel=actor.channel,
        customer_read_message_id=0,
        staff_read_message_id=0,
        created_at=moment,
        last_message_at=moment,
    )
    session.add(conversation)
    session.flush()
    record_audit(
        session,
        actor.name,
        "conversation.open",
        f"conversation {conversation.id}",
        after={"customer": customer_id, "contact": contact_key, "topic": topic},
        address=address,
    )
    _append(session, actor, conversation, text, image_path, message_key, moment, address)
    return conversation


def post_message(
    session: Session,
    actor: Actor,
    conversation_id: int,
    *,
    text: str,
    image_path: str | None = None,
    message_key: str | None = None,
    now: datetime | None = None,
    address: str | None = None,
) -> tuple[Message, bool]:
    """Add a message; returns it and whether this call added it (False: `message_key`
    was posted before, e.g. a chat update delivered twice).

    A customer's message puts the conversation back in the staff's "open" list; a staff
    reply moves it to "waiting" (for the customer) and enqueues the notice that carries
    the reply to the customer's chats, in this transaction (see `_enqueue_reply`).
    """
    _check_channel(actor)
    if message_key:
        previous = _message_with_key(session, message_key)
        if previous is not None:
            # The same key from another conversation is not a replay but a mistake.
            get_conversation(session, actor, previous.conversation_id)
            if previous.conversation_id != conversation_id:
                raise InvalidInput("this message key belongs to another conversation")
            return previous, False
    conversation = get_conversation(session, actor, conversation_id, lock=True)
    if conversation.status == "closed":
        raise ConversationClosed(f"conversation {conversation.id} is closed; reopen it first")
    _check_message(text, image_path)
    message = _append(
        session, actor, conversation, text, image_path, message_key, now or utcnow(), address
    )
    return message, True


def _message_with_key(session: Session, message_key: str) -> Message | None:
    return session.execute(
        select(Message).where(Message.message_key == message_key)
    ).scalar_one_or_none()


def _append(
    session: Session,
    actor: Actor,
    conversation: Conversation,
    text: str,
    image_path: str | None,
    message_key: str | None,
    moment: datetime,
    address: str | None,
) -> Message:
    message = Message(
        conversation_id=conversation.id,
        author_kind=actor.kind,
        author_staff_id=actor.staff_id,
        author_customer_id=actor.customer_id,
        channel=actor.channel,
        text=(text or "").strip(),
        image_path=image_path,
        message_key=message_key or None,
        created_at=moment,
    )
    session.add(message)
    session.flush()
    conversation.last_message_at = moment
    # Whoever writes has read everything before their own message; the other side has
    # one more to read. (The conversation is new or locked: no lost increment.)
    if actor.kind == CUSTOMER:
        conversation.status = "open"
        conversation.customer_read_message_id = message.id
        conversation.customer_unread = 0
        conversation.staff_unread = (conversation.staff_unread or 0) + 1
    else:
        if actor.kind == STAFF:
            conversation.status = "waiting"
            conversation.staff_read_message_id = message.id
            conversation.staff_unread = 0
        conversation.customer_unread = (conversation.customer_unread or 0) + 1
    session.flush()
    record_audit(
        session,
        actor.name,
        "conversation.message",
        f"conversation {conversation.id}",
        after={"message": message.id, "characters": len(message.text), "image": bool(image_path)},
        address=address,
    )
    if actor.kind in (STAFF, PULSA):
        _enqueue_reply(session, actor, conversation, message, image_path, moment)
    return message


def _enqueue_reply(
    session: Session,
    actor: Actor,
    conversation: Conversation,
    message: Message,
    image_path: str | None,
    moment: datetime,
) -> None:
    """The notice that carries a staff reply to the customer's chats, in this transaction.

    A conversation that lives in a chat app answers in that chat app (the contact's chat,
    or the linked customer's chats of that platform); one opened on the portal or by staff
    in the admin reaches every chat the customer linked, so that a reply is not missed
    when they do not look at the portal. One notice per message (its key), so one
    delivery per chat, never two. A customer may turn replies in the chat off (they still
    read them on the portal)."""
    if conversation.channel in CHAT_CHANNELS:
        recipient = conversation.contact_key or f"customer:{conversation.customer_id}"
        channel = conversation.channel
    elif conversation.customer_id is not None:
        recipient, channel = f"customer:{conversation.customer_id}", ALL_CHATS
    else:
        return
    if conversation.customer_id is not None and not wants(
        session, conversation.customer_id, STAFF_REPLY
    ):
        return
    enqueue_notice(
        session,
        f"{STAFF_REPLY}:{message.id}",
        recipient,
        channel,
        {
            "conversation": conversation.id,
            "message": message.id,
            "text": message.text,
            "image": image_path,
            # Where the conversation is, when not in the chat the reply arrives in.
            "elsewhere": conversation.channel not in CHAT_CHANNELS,
        },
        actor=actor.name,
        now=moment,
    )


def assign(
    session: Session,
    actor: Actor,
    conversation_id: int,
    staff_id: int | None,
    *,
    address: str | None = None,
) -> Conversation:
    """Give the conversation to a staff member (None: to nobody in particular)."""
    _staff_only(actor, "assign a conversation")
    conversation = get_conversation(session, actor, conversation_id, lock=True)
    if staff_id is not None:
        member = session.get(StaffUser, staff_id)
        if member is None or not member.is_active:
            raise NotFound(f"staff member {staff_id} does not exist or is disabled")
    before = conversation.assigned_staff_id
    conversation.assigned_staff_id = staff_id
    session.flush()
    record_audit(
        session,
        actor.name,
        "conversation.assign",
        f"conversation {conversation.id}",
        before={"assigned": before},
        after={"assigned": staff_id},
        address=address,
    )
    return conversation


def close(
    session: Session,
    actor: Actor,
    conversation_id: int,
    *,
    now: datetime | None = None,
    address: str | None = None,
) -> Conversation:
    """Close a resolved conversation (staff only; the customer may reopen it)."""
    _staff_only(actor, "close a conversation")
    return _set_status(session, actor, conversation_id, "closed", now, address)


def reopen(
    session: Session,
    actor: Actor,
    conversation_id: int,
    *,
    now: datetime | None = None,
    address: str | None = None,
) -> Conversation:
    """Reopen a closed conversation (its customer side, or staff)."""
    return _set_status(session, actor, conversation_id, "open", now, address)


def _set_status(
    session: Session,
    actor: Actor,
    conversation_id: int,
    status: str,
    now: datetime | None,
    address: str | None,
) -> Conversation:
    conversation = get_conversation(session, actor, conversation_id, lock=True)
    before = conversation.status
    if (status == "closed") == (before == "closed"):
        return conversation  # already so: a double click changes nothing
    conversation.status = status
    conversation.closed_at = (now or utcnow()) if status == "closed" else None
    session.flush()
    record_audit(
        session,
        actor.name,
        "conversation.close" if status == "closed" else "conversation.reopen",
        f"conversation {conversation.id}",
        before={"status": before},
        after={"status": status},
        address=address,
    )
    return conversation


# --- read markers and unread counts ------------------------------------------------------


def mark_read(
    session: Session,
    actor: Actor,
    conversation_id: int,
    up_to_message_id: int | None = None,
    *,
    address: str | None = None,
) -> bool:
    """Note that the actor's side has seen the conversation up to a message (default:
    the last one). Returns whether the marker moved; it never moves back."""
    if actor.kind not in (CUSTOMER, STAFF):
        raise NotAllowed("pulsa reads nothing")
    conversation = get_conversation(session, actor, conversation_id)
    last = (
        session.execute(
            select(func.max(Message.id)).where(Message.conversation_id == conversation.id)
        ).scalar_one()
        or 0
    )
    up_to = last if up_to_message_id is None else min(up_to_message_id, last)
    marker = "customer_read_message_id" if actor.kind == CUSTOMER else "staff_read_message_id"
    if getattr(conversation, marker) >= up_to:
        return False  # nothing new: no lock, no write (the page polls often)
    conversation = get_conversation(session, actor, conversation_id, lock=True)
    if getattr(conversation, marker) >= up_to:
        return False
    setattr(conversation, marker, up_to)
    # The other side's messages still after the marker (some may have come meanwhile).
    others = (
        Message.author_kind != CUSTOMER
        if actor.kind == CUSTOMER
        else Message.author_kind == CUSTOMER
    )
    left = session.execute(
        select(func.count(Message.id)).where(
            Message.conversation_id == conversation.id, Message.id > up_to, others
        )
    ).scalar_one()
    if actor.kind == CUSTOMER:
        conversation.customer_unread = int(left)
    else:
        conversation.staff_unread = int(left)
    session.flush()
    record_audit(
        session,
        actor.name,
        "conversation.read",
        f"conversation {conversation.id}",
        after={"read_up_to": up_to},
        address=address,
    )
    return True


def _unread_column(actor: Actor):
    if actor.kind == CUSTOMER:
        return Conversation.customer_unread
    if actor.kind == STAFF:
        return Conversation.staff_unread
    raise NotAllowed("pulsa reads nothing")


def unread_count(session: Session, actor: Actor) -> int:
    """Messages the actor's side has not seen yet, over all its conversations: a sum over
    the conversations with something unread (an index finds them), not a count of
    messages."""
    if actor.kind == CUSTOMER and actor.customer_id is not None:
        found = session.execute(_customer_unread_query(), {"customer_id": actor.customer_id})
        return int(found.scalar_one())
    column = _unread_column(actor)
    statement = select(func.coalesce(func.sum(column), 0)).where(column > 0)
    if actor.kind == CUSTOMER:
        statement = statement.where(_owned_by(actor))
    return int(session.execute(statement).scalar_one())


@cache
def _customer_unread_query() -> Select:
    # A signed-in customer's count, on every page of the portal: built once and run with
    # the customer's id (building a statement costs about what running it does).
    column = Conversation.customer_unread
    return (
        select(func.coalesce(func.sum(column), 0))
        .where(column > 0)
        .where(Conversation.customer_id == bindparam("customer_id"))
    )


def unread_by_conversation(
    session: Session, actor: Actor, conversation_ids: Iterable[int]
) -> dict[int, int]:
    """Unread messages per conversation, for the conversations of a list page."""
    ids = list(conversation_ids)
    if not ids:
        return {}
    column = _unread_column(actor)
    statement = select(Conversation.id, column).where(Conversation.id.in_(ids), column > 0)
    if actor.kind == CUSTOMER:
        statement = statement.where(_owned_by(actor))
    return {conversation_id: int(count) for conversation_id, count in session.execute(statement)}


def status_counts(session: Session) -> dict[str, int]:
    """How many conversations are open, waiting and closed (the staff's tabs)."""
    rows = session.execute(
        select(Conversation.status, func.count(Conversation.id)).group_by(Conversation.status)
    ).all()
    return {status: int(count) for status, count in rows}


# --- checks -------------------------------------------------------------------------------


def _check_channel(actor: Actor) -> None:
    if actor.channel not in CHANNELS:
        raise InvalidInput(f"unknown channel {actor.channel!r}")


def _check_message(text: str, image_path: str | None) -> None:
    text = check_text((text or "").strip(), "the message", multiline=True)
    if not text and not image_path:
        raise InvalidInput("write a message or attach a photo")
    if len(text) > MAX_TEXT_LENGTH:
        raise InvalidInput(f"a message has at most {MAX_TEXT_LENGTH} characters")


def _staff_only(actor: Actor, what: str) -> None:
    if actor.kind != STAFF:
        raise NotAllowed(f"only staff may {what}")
