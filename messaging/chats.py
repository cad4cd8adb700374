"""Who is who in chats: links between a chat (Telegram, LINE) and a customer or a staff
member, the one-time tokens that make them, the updates already handled, and where a chat
is in a dialogue of several steps.

A link is made by the chat itself: it sends a one-time token made for the customer on the
portal ("Connect Telegram": `/start <token>`; LINE: a short code typed in the chat) or
for a staff member on their admin profile; or, on Telegram, the customer shares their own
phone number and it is the phone of exactly one customer. Every change is audited in the
caller's transaction.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from messaging.models import (
    CHAT_PLATFORMS,
    ChatBot,
    ChatLink,
    ChatLinkToken,
    ChatState,
    Conversation,
    HandledUpdate,
)
from wallet.customer_access import phone_variants
from wallet.errors import InvalidInput, NotFound
from wallet.ledger import utcnow
from wallet.models import Customer
from wallet.staff import StaffUser, record_audit

TOKEN_LIFETIME = timedelta(hours=24)
LANGUAGES = ("en", "id")
# LINE codes are typed by hand: no 0/O, 1/I/L look-alikes.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 8
# Telegram's start parameter: at most 64 characters of A-Z a-z 0-9 _ -.
MAX_TOKEN_LENGTH = 64
_SEPARATORS = str.maketrans("", "", " -.()+\t")


def chat_language(code: str | None) -> str:
    """The chat's language from a chat app's language code ("id", "id-ID", "en-US"):
    Indonesian for Indonesian, English otherwise."""
    return "id" if (code or "").lower().split("-")[0].split("_")[0] in ("id", "in") else "en"


def contact_key(platform: str, chat_id: str) -> str:
    """How a chat not linked to a customer is known in conversations and the outbox."""
    return f"{platform}:{chat_id}"


def _check_platform(platform: str) -> None:
    if platform not in CHAT_PLATFORMS:
        raise InvalidInput(f"unknown chat platform {platform!r}")


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _normal_code(text: str) -> str:
    return (text or "").strip().upper().replace(" ", "").replace("-", "")


# --- tokens -------------------------------------------------------------------------------


def issue_link_token(
    session: Session,
    platform: str,
    *,
    actor: str,
    customer_id: int | None = None,
    staff_id: int | None = None,
    now: datetime | None = None,
    address: str | None = None,
) -> tuple[str, datetime]:
    """A one-time token that links a chat of `platform` to the customer or the staff
    member (exactly one of them), valid TOKEN_LIFETIME; returns it (never stored, only its
    hash) and when it expires. Telegram gets a long random token (the start parameter of a
    link), LINE a short code a person can type."""
    _check_platform(platform)
    if (customer_id is None) == (staff_id is None):
        raise InvalidInput("a link token is for one customer or one staff member")
    if customer_id is not None and session.get(Customer, customer_id) is None:
        raise NotFound(f"customer {customer_id} does not exist")
    if staff_id is not None and session.get(StaffUser, staff_id) is None:
        raise NotFound(f"staff member {staff_id} does not exist")
    moment = now or utcnow()
    if platform == "line":
        token = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
        stored = _hash(f"line:{token}")
    else:
        token = secrets.token_urlsafe(24)
        stored = _hash(f"{platform}:{token}")
    row = ChatLinkToken(
        platform=platform,
        token_hash=stored,
        customer_id=customer_id,
        staff_id=staff_id,
        expires_at=moment + TOKEN_LIFETIME,
        created_by=actor[:100],
        created_at=moment,
    )
    session.add(row)
    session.flush()
    record_audit(
        session,
        actor,
        "chat.link_token",
        f"customer {customer_id}" if customer_id is not None else f"staff {staff_id}",
        after={"platform": platform, "token": row.id, "expires_at": row.expires_at},
        address=address,
    )
    return token, row.expires_at


def redeem_link_token(
    session: Session,
    platform: str,
    chat_id: str,
    token: str,
    *,
    language: str = "en",
    now: datetime | None = None,
) -> ChatLink:
    """Link the chat to whom the token was made for, once; raises NotFound for a token
    that is unknown, used, expired, of another platform, or whose person is disabled."""
    _check_platform(platform)
    moment = now or utcnow()
    text = _normal_code(token) if platform == "line" else (token or "").strip()
    if not text or len(text) > MAX_TOKEN_LENGTH:
        raise NotFound("this link is unknown, used or expired")
    row = session.execute(
        select(ChatLinkToken)
        .where(ChatLinkToken.token_hash == _hash(f"{platform}:{text}"))
        .with_for_update()
    ).scalar_one_or_none()
    if (
        row is None
        or row.platform != platform
        or row.used_at is not None
        or row.expires_at <= moment
    ):
        raise NotFound("this link is unknown, used or expired")
    if row.customer_id is not None:
        customer = session.get(Customer, row.customer_id)
        if customer is None or customer.status == "disabled":
            raise NotFound("this link is unknown, used or expired")
    else:
        member = session.get(StaffUser, row.staff_id)
        if member is None or not member.is_active:
            raise NotFound("this link is unknown, used or expired")
    row.used_at = moment
    return _link(
        session,
        platform,
        chat_id,
        customer_id=row.customer_id,
        staff_id=row.staff_id,
        language=language,
        how="code" if platform == "line" else "token",
        now=moment,
    )


def customers_with_phone(
    session: Session, phone: str, *, country_code: str = "", trunk_prefix: str = "0"
) -> list[Customer]:
    """The customers whose phone is `phone` in any of its written forms (national,
    international, with or without separators), like a caller ID is matched."""
    digits = (phone or "").strip().translate(_SEPARATORS)
    variants = phone_variants(digits, country_code=country_code, trunk_prefix=trunk_prefix)
    if not variants:
        return []
    stored = Customer.phone
    for separator in (" ", "-", ".", "(", ")", "+"):
        stored = func.replace(stored, separator, "")
    return list(
        session.execute(
            select(Customer).where(stored.in_(sorted(variants))).order_by(Customer.id).limit(5)
        ).scalars()
    )


def link_by_phone(
    session: Session,
    platform: str,
    chat_id: str,
    phone: str,
    *,
    country_code: str = "",
    trunk_prefix: str = "0",
    language: str = "en",
    now: datetime | None = None,
) -> ChatLink | None:
    """Link the chat to the customer whose phone is the one the chat shared (the chat
    app vouches that it is the sender's own). None when no customer, or more than one,
    has that number, or the customer is disabled: the chat stays unlinked."""
    found = customers_with_phone(
        session, phone, country_code=country_code, trunk_prefix=trunk_prefix
    )
    if len(found) != 1 or found[0].status == "disabled":
        return None
    return _link(
        session,
        platform,
        chat_id,
        customer_id=found[0].id,
        staff_id=None,
        language=language,
        how="phone",
        now=now or utcnow(),
    )


def _link(
    session: Session,
    platform: str,
    chat_id: str,
    *,
    customer_id: int | None,
    staff_id: int | None,
    language: str,
    how: str,
    now: datetime,
) -> ChatLink:
    chat_id = _check_chat_id(chat_id)
    language = language if language in LANGUAGES else "en"
    link = find_link(session, platform, chat_id, lock=True)
    before = None
    if link is None:
        link = ChatLink(platform=platform, chat_id=chat_id)
        session.add(link)
    else:
        before = {"customer": link.customer_id, "staff": link.staff_id}
    link.customer_id, link.staff_id = customer_id, staff_id
    link.language, link.linked_by, link.created_at = language, how, now
    session.flush()
    record_audit(
        session,
        f"{platform}:chat:{chat_id}",
        "chat.link",
        f"customer {customer_id}" if customer_id is not None else f"staff {staff_id}",
        before=before,
        after={"platform": platform, "chat": chat_id, "by": how},
    )
    if customer_id is not None:
        _adopt_conversations(session, platform, chat_id, customer_id)
    return link


def _adopt_conversations(session: Session, platform: str, chat_id: str, customer_id: int) -> None:
    """What the chat wrote before it was linked ("not a customer yet") now shows as the
    customer's, on the portal and in the admin; replies still reach the chat."""
    key = contact_key(platform, chat_id)
    adopted = list(
        session.execute(
            select(Conversation.id).where(
                Conversation.customer_id.is_(None), Conversation.contact_key == key
            )
        ).scalars()
    )
    if not adopted:
        return
    session.execute(
        update(Conversation)
        .where(Conversation.id.in_(adopted))
        .values(customer_id=customer_id)
        .execution_options(synchronize_session="fetch")
    )
    record_audit(
        session,
        f"{platform}:chat:{chat_id}",
        "conversation.adopt",
        f"customer {customer_id}",
        after={"conversations": adopted},
    )


def _check_chat_id(chat_id: str) -> str:
    chat_id = str(chat_id or "").strip()
    if not chat_id or len(chat_id) > 64 or not chat_id.isprintable():
        raise InvalidInput("a chat id has 1 to 64 printable characters")
    return chat_id


# --- links -------------------------------------------------------------------------------


def find_link(
    session: Session, platform: str, chat_id: str, *, lock: bool = False
) -> ChatLink | None:
    statement = select(ChatLink).where(
        ChatLink.platform == platform, ChatLink.chat_id == str(chat_id)
    )
    if lock:
        statement = statement.with_for_update()
    return session.execute(statement).scalar_one_or_none()


def links_of_customer(session: Session, customer_id: int) -> list[ChatLink]:
    """The chats linked to a customer (where their notices go)."""
    return list(
        session.execute(
            select(ChatLink).where(ChatLink.customer_id == customer_id).order_by(ChatLink.id)
        ).scalars()
    )


def links_of_staff(session: Session, staff_id: int) -> list[ChatLink]:
    return list(
        session.execute(
            select(ChatLink).where(ChatLink.staff_id == staff_id).order_by(ChatLink.id)
        ).scalars()
    )


def set_chat_language(session: Session, link: ChatLink, language: str) -> None:
    if language not in LANGUAGES:
        raise InvalidInput(f"language must be one of {', '.join(LANGUAGES)}")
    link.language = language
    session.flush()


def unlink(session: Session, link_id: int, *, actor: str, address: str | None = None) -> bool:
    """Remove a chat's link (the chat becomes a stranger again). Returns whether there
    was one. The caller checks that the actor may (the customer their own, staff)."""
    link = session.get(ChatLink, link_id)
    if link is None:
        return False
    record_audit(
        session,
        actor,
        "chat.unlink",
        f"customer {link.customer_id}"
        if link.customer_id is not None
        else f"staff {link.staff_id}",
        before={"platform": link.platform, "chat": link.chat_id},
        address=address,
    )
    session.delete(link)
    session.flush()
    return True


# --- updates handled once ------------------------------------------------------------------


def was_handled(session: Session, platform: str, update_key: str) -> bool:
    return (
        session.execute(
            select(HandledUpdate.id).where(
                HandledUpdate.platform == platform, HandledUpdate.update_key == str(update_key)
            )
        ).scalar_one_or_none()
        is not None
    )


UPDATE_CONSTRAINT = "uq_chat_updates_platform_update_key"


def claim_update(
    session: Session,
    platform: str,
    update_key: str,
    chat_id: str,
    now: datetime | None = None,
    *,
    savepoint: bool = True,
) -> bool:
    """Record that this update is being handled, in the caller's transaction (so the
    update and what it did commit together). False: it was handled before, or is being
    handled by another transaction right now (which then wins): do nothing."""
    update_key = str(update_key)
    if not update_key or len(update_key) > 100:
        raise InvalidInput("an update key has 1 to 100 characters")
    # No lookup first: the unique index answers (and makes a second transaction with
    # the same update wait for the first, then fail).
    row = HandledUpdate(
        platform=platform,
        update_key=update_key,
        chat_id=str(chat_id)[:64],
        handled_at=now or utcnow(),
    )
    if not savepoint:
        # The caller's whole transaction fails on a duplicate (an IntegrityError naming
        # UPDATE_CONSTRAINT): two round trips fewer for the caller that can start over.
        session.add(row)
        session.flush()
    else:
        try:
            with session.begin_nested():
                session.add(row)
                session.flush()
        except IntegrityError:
            return False
    return True


def reachable_again(link: ChatLink | None) -> None:
    """The chat of `link` wrote: it has unblocked the bot (LINE sends a follow, Telegram
    a message), and its notices are pushed again. Called on the link the dialogue reads
    for every update anyway: no statement unless the chat was marked."""
    if link is not None and link.blocked_at is not None:
        link.blocked_at = None


def mark_chat_blocked(
    session: Session, platform: str, chat_id: str, now: datetime | None = None
) -> bool:
    """The chat blocked the bot: from now on its deliveries fail at once ("the chat
    blocked the bot") instead of being pushed, until it writes again. True when the chat
    is linked to someone and was not marked already."""
    result = session.execute(
        update(ChatLink)
        .where(
            ChatLink.platform == platform,
            ChatLink.chat_id == str(chat_id),
            ChatLink.blocked_at.is_(None),
        )
        .values(blocked_at=now or utcnow())
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)


def updates_since(session: Session, platform: str, chat_id: str, since: datetime) -> int:
    """How many updates of this chat were handled since `since` (flood control)."""
    return int(
        session.execute(
            select(func.count(HandledUpdate.id)).where(
                HandledUpdate.platform == platform,
                HandledUpdate.chat_id == str(chat_id),
                HandledUpdate.handled_at >= since,
            )
        ).scalar_one()
    )


#: How long the record of a handled update is kept: platforms deliver an update again
#: within hours (Telegram keeps undelivered updates 24 hours), and flood control looks at
#: the last minute.
HANDLED_UPDATES_KEPT = timedelta(days=7)


def forget_old_chat_updates(session: Session, now: datetime | None = None) -> int:
    """Housekeeping: the records of updates older than HANDLED_UPDATES_KEPT, and the
    link tokens expired a day ago, deleted; how many updates went."""
    moment = now or utcnow()
    session.execute(
        delete(ChatLinkToken).where(ChatLinkToken.expires_at < moment - timedelta(days=1))
    )
    return forget_handled_updates(session, moment - HANDLED_UPDATES_KEPT)


def forget_handled_updates(session: Session, before: datetime) -> int:
    """Drop the records of updates handled before `before` (platforms deliver an update
    again within hours, not weeks); returns how many went."""
    result = session.execute(delete(HandledUpdate).where(HandledUpdate.handled_at < before))
    return int(result.rowcount or 0)


# --- dialogue state --------------------------------------------------------------------------


def chat_state(session: Session, platform: str, chat_id: str, *, lock: bool = False) -> ChatState:
    """The chat's state row, made when missing."""
    statement = select(ChatState).where(
        ChatState.platform == platform, ChatState.chat_id == str(chat_id)
    )
    if lock:
        statement = statement.with_for_update()
    row = session.execute(statement).scalar_one_or_none()
    if row is None:
        row = ChatState(platform=platform, chat_id=_check_chat_id(chat_id), step="", data="{}")
        row.updated_at = utcnow()
        try:
            with session.begin_nested():
                session.add(row)
                session.flush()
        except IntegrityError:
            row = session.execute(statement).scalar_one()
    return row


def set_step(
    session: Session, state: ChatState, step: str, data: dict | None = None, now=None
) -> None:
    state.step = step
    state.data = json.dumps(data or {}, sort_keys=True, default=str)
    state.updated_at = now or utcnow()
    session.flush()


def step_data(state: ChatState) -> dict:
    try:
        value = json.loads(state.data or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


# --- the bots themselves --------------------------------------------------------------------


def remember_bot(
    session: Session, platform: str, username: str, now: datetime | None = None
) -> None:
    """Note the bot's name on its platform (called when the bot starts)."""
    _check_platform(platform)
    username = (username or "").strip().lstrip("@")
    if not username or len(username) > 100 or not username.isprintable():
        raise InvalidInput("a bot name has 1 to 100 printable characters")
    row = session.get(ChatBot, platform, with_for_update=True)
    if row is None:
        row = ChatBot(platform=platform)
        session.add(row)
    row.username, row.seen_at = username, now or utcnow()
    session.flush()


def bot_username(session: Session, platform: str) -> str | None:
    """The bot's name on `platform`, once the bot has started at least once."""
    row = session.get(ChatBot, platform)
    return row.username if row is not None else None


def telegram_start_link(username: str, token: str) -> str:
    """The link that opens the Telegram bot and sends it `/start <token>`."""
    return f"https://t.me/{username}?start={token}"


def line_friend_link(line_id: str) -> str:
    """The link that opens the LINE Official Account (its LINE ID, "@" left out or not)
    in LINE, to add it as a friend and chat with it."""
    from urllib.parse import quote

    return "https://line.me/R/ti/p/" + quote("@" + line_id.strip().lstrip("@"), safe="")
