"""The tables of messaging. Messages are never edited or deleted; a conversation keeps a
read marker per side (the last message id the customer side, and the staff, have seen)
and, beside it, how many messages of the other side came after it: the menus of every
admin and portal page add these up instead of counting messages."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from wallet.hotspot_models import InternetPackage, Router
from wallet.models import Base, Customer, Id
from wallet.staff import StaffUser

TOPICS = ("billing", "internet", "calls", "other")
STATUSES = ("open", "waiting", "closed")
AUTHOR_KINDS = ("customer", "staff", "pulsa")
CHANNELS = ("portal", "admin", "telegram", "line")
# Channels whose people are reached by a message pushed to them (through the outbox);
# the portal and the admin are read where they are.
CHAT_CHANNELS = ("telegram", "line")
AUDIENCES = ("all", "package", "router")
# Chat platforms whose chats can be linked to a customer or a staff member.
CHAT_PLATFORMS = ("telegram", "line")
# A notice is pending until each of its chats has an outcome: sent (to every chat),
# failed (to one at least: undeliverable, given up, or uncertain), no_chat (the recipient
# has no linked chat: the portal shows it, no chat gets it).
NOTICE_STATUSES = ("pending", "sent", "failed", "no_chat")
# One notice to one chat. "sending": claimed by a worker until `lease_until`, committed
# before the request leaves; "uncertain": the request may have reached the platform but
# its answer was lost (a timeout, or the worker died): never sent again by itself, since
# Telegram cannot drop a repeat; staff see it and may send it again.
DELIVERY_STATUSES = ("pending", "sending", "sent", "failed", "uncertain")


class Conversation(Base):
    """A thread between one customer side and the staff. The customer side is a customer,
    or, before a chat is linked to one, a contact known only by its chat (`contact_key`,
    e.g. "telegram:123456", and the name it shows, `contact_label`)."""

    __tablename__ = "conversations"
    __table_args__ = (
        Index("ix_conversations_status_last_message_at", "status", "last_message_at"),
        Index("ix_conversations_customer_id_last_message_at", "customer_id", "last_message_at"),
        Index("ix_conversations_staff_unread", "staff_unread"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"))
    contact_key: Mapped[str | None] = mapped_column(String(120), index=True)
    contact_label: Mapped[str] = mapped_column(String(200), default="")
    topic: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), default="open")
    channel: Mapped[str] = mapped_column(String(20))  # where it was opened
    assigned_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    customer_read_message_id: Mapped[int] = mapped_column(BigInteger, default=0)
    staff_read_message_id: Mapped[int] = mapped_column(BigInteger, default=0)
    # Messages after each side's marker written by the other side (pulsa's count as the
    # staff's); kept with the markers under the conversation's row lock.
    customer_unread: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    staff_unread: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=False))
    last_message_at: Mapped[datetime] = mapped_column(DateTime(timezone=False))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=False))

    customer: Mapped[Customer | None] = relationship()
    assigned_staff: Mapped[StaffUser | None] = relationship()

    @property
    def party(self) -> str:
        """Who the customer side is, for people: the customer's name or the chat's label."""
        if self.customer is not None:
            return self.customer.name
        return self.contact_label or self.contact_key or ""


class Message(Base):
    """One message, append-only. `message_key`, when given, makes posting idempotent:
    a chat platform delivering the same update twice adds one message."""

    __tablename__ = "conversation_messages"
    __table_args__ = (
        Index("ix_conversation_messages_conversation_id_id", "conversation_id", "id"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"))
    author_kind: Mapped[str] = mapped_column(String(10))
    author_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    author_customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"))
    channel: Mapped[str] = mapped_column(String(20))
    text: Mapped[str] = mapped_column(Text, default="")
    image_path: Mapped[str | None] = mapped_column(String(255))
    message_key: Mapped[str | None] = mapped_column(String(160), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=False))

    author_staff: Mapped[StaffUser | None] = relationship()


class Announcement(Base):
    """A message to customers shown from `starts_at` until `ends_at` (UTC): to all of
    them, or to the current users of one package or of one router."""

    __tablename__ = "announcements"
    __table_args__ = (Index("ix_announcements_ends_at_starts_at", "ends_at", "starts_at"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    audience: Mapped[str] = mapped_column(String(10), default="all")
    package_id: Mapped[int | None] = mapped_column(ForeignKey("internet_packages.id"))
    router_id: Mapped[int | None] = mapped_column(ForeignKey("routers.id"))
    starts_at: Mapped[datetime] = mapped_column(DateTime(timezone=False))
    ends_at: Mapped[datetime] = mapped_column(DateTime(timezone=False))
    created_by: Mapped[str] = mapped_column(String(60))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=False))
    ended_by: Mapped[str | None] = mapped_column(String(60))
    # The admin form's key: a form submitted twice is one announcement, pushed once.
    form_key: Mapped[str | None] = mapped_column(String(64), unique=True)

    package: Mapped[InternetPackage | None] = relationship()
    router: Mapped[Router | None] = relationship()


class Broadcast(Base):
    """A message sent once to customers' chats: to every linked customer, or to the
    current users of one package or one router. Each recipient chat gets its own outbox
    notice (`BroadcastRecipient` names it); `form_key` makes a form submitted twice one
    broadcast."""

    __tablename__ = "broadcasts"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    form_key: Mapped[str] = mapped_column(String(64), unique=True)
    text: Mapped[str] = mapped_column(Text)
    audience: Mapped[str] = mapped_column(String(10), default="all")
    package_id: Mapped[int | None] = mapped_column(ForeignKey("internet_packages.id"))
    router_id: Mapped[int | None] = mapped_column(ForeignKey("routers.id"))
    recipients: Mapped[int] = mapped_column(Integer, default=0)
    created_by: Mapped[str] = mapped_column(String(60))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=False), index=True)

    package: Mapped[InternetPackage | None] = relationship()
    router: Mapped[Router | None] = relationship()


class BroadcastRecipient(Base):
    """One chat a broadcast went to, and the key of its outbox notice (whose status is
    the broadcast's progress)."""

    __tablename__ = "broadcast_recipients"
    __table_args__ = (
        UniqueConstraint(
            "broadcast_id", "platform", "chat_id", name="uq_broadcast_recipients_chat"
        ),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    broadcast_id: Mapped[int] = mapped_column(ForeignKey("broadcasts.id"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    platform: Mapped[str] = mapped_column(String(20))
    chat_id: Mapped[str] = mapped_column(String(64))
    notice_key: Mapped[str] = mapped_column(String(160), unique=True)


class Notice(Base):
    """The outbox: one notice to send to someone's chat, written in the transaction of the
    event it reports and sent later by a worker. `key` names the notice (e.g.
    "conversation-reply:42"): the same key is never enqueued twice, so a retried event
    or a crash between sending and marking sent cannot produce a second notice row."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_status_next_attempt_at", "status", "next_attempt_at"),
        Index("ix_outbox_recipient_id", "recipient", "id"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    key: Mapped[str] = mapped_column(String(160), unique=True)
    recipient: Mapped[str] = mapped_column(String(200))
    channel: Mapped[str] = mapped_column(String(20))
    payload: Mapped[str] = mapped_column(Text)  # JSON
    status: Mapped[str] = mapped_column(String(10), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=False))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=False))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=False))
    # What the notice says (messaging.notifications.KINDS; "" for a plain text payload).
    kind: Mapped[str] = mapped_column(String(40), default="", server_default="")
    # When the worker turned the recipient into the chats to send to (the deliveries).
    routed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=False))

    deliveries: Mapped[list[Delivery]] = relationship(
        back_populates="notice", order_by="Delivery.id", viewonly=True
    )


class ChatLink(Base):
    """Who is who in chats: a chat of a platform (Telegram's chat id, LINE's user id)
    linked to one customer or one staff member. A chat has at most one link; linking it
    again replaces the link. `language` is the chat's language (en, id), taken from the
    chat app when the link was made."""

    __tablename__ = "chat_links"
    __table_args__ = (
        UniqueConstraint("platform", "chat_id", name="uq_chat_links_platform_chat_id"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    platform: Mapped[str] = mapped_column(String(20))
    chat_id: Mapped[str] = mapped_column(String(64))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"), index=True)
    language: Mapped[str] = mapped_column(String(10), default="en")
    linked_by: Mapped[str] = mapped_column(String(20))  # token, code, phone
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=False))
    # The chat blocked the bot (LINE: unfollow; Telegram: a send refused with 403): its
    # notices fail at once instead of being pushed, until the chat writes again.
    blocked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=False))

    customer: Mapped[Customer | None] = relationship()
    staff: Mapped[StaffUser | None] = relationship()


class ChatLinkToken(Base):
    """A one-time token that links the chat it is sent from to a customer or a staff
    member (Telegram: the start parameter of the portal's "Connect Telegram" link; LINE:
    a short code typed into the chat). Only a hash is stored."""

    __tablename__ = "chat_link_tokens"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    platform: Mapped[str] = mapped_column(String(20))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"))
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=False))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=False))
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=False))


class HandledUpdate(Base):
    """An incoming update (Telegram update id, LINE webhook event id) that was handled:
    the same update delivered again is recognised and ignored. Also the record of how
    often a chat writes (the index on chat and time), for slowing down a flooding chat."""

    __tablename__ = "chat_updates"
    __table_args__ = (
        UniqueConstraint("platform", "update_key", name="uq_chat_updates_platform_update_key"),
        Index("ix_chat_updates_platform_chat_id_handled_at", "platform", "chat_id", "handled_at"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    platform: Mapped[str] = mapped_column(String(20))
    update_key: Mapped[str] = mapped_column(String(100))
    chat_id: Mapped[str] = mapped_column(String(64))
    handled_at: Mapped[datetime] = mapped_column(DateTime(timezone=False), index=True)


class ChatState(Base):
    """Where a chat is in a dialogue of several steps (a top-up waiting for its amount or
    its photo), and when it was last told to slow down. One row per chat, linked or not."""

    __tablename__ = "chat_states"
    __table_args__ = (
        UniqueConstraint("platform", "chat_id", name="uq_chat_states_platform_chat_id"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    platform: Mapped[str] = mapped_column(String(20))
    chat_id: Mapped[str] = mapped_column(String(64))
    step: Mapped[str] = mapped_column(String(30), default="")
    data: Mapped[str] = mapped_column(Text, default="{}")  # JSON
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=False))
    slowed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=False))


class Delivery(Base):
    """One notice to one chat, and where its sending is. The unique (notice, platform,
    chat) means a notice reaches a chat through one row only; `claim` names the worker's
    attempt that holds it while "sending", so a worker that lost its lease cannot record
    over another's outcome."""

    __tablename__ = "outbox_deliveries"
    __table_args__ = (
        UniqueConstraint(
            "notice_id", "platform", "chat_id", name="uq_outbox_deliveries_notice_platform_chat"
        ),
        Index("ix_outbox_deliveries_status_next_attempt_at", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    notice_id: Mapped[int] = mapped_column(ForeignKey("outbox.id"))
    platform: Mapped[str] = mapped_column(String(20))
    chat_id: Mapped[str] = mapped_column(String(64))
    language: Mapped[str] = mapped_column(String(10), default="en")
    status: Mapped[str] = mapped_column(String(10), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=False))
    claim: Mapped[str | None] = mapped_column(String(40))
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=False))
    platform_message_id: Mapped[str | None] = mapped_column(String(64))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=False))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=False))

    notice: Mapped[Notice] = relationship(back_populates="deliveries")


class NotificationSetting(Base):
    """A customer's choice for one kind of notification; a kind without a row is on."""

    __tablename__ = "notification_settings"
    __table_args__ = (
        UniqueConstraint("customer_id", "kind", name="uq_notification_settings_customer_kind"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    kind: Mapped[str] = mapped_column(String(40))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=False))


class ChatBot(Base):
    """A bot of a platform as the platform knows it (Telegram: its @username, learned
    from getMe when the bot starts), so that the portal can link to it
    (https://t.me/<username>?start=<token>) without a setting of its own."""

    __tablename__ = "chat_bots"

    platform: Mapped[str] = mapped_column(String(20), primary_key=True)
    username: Mapped[str] = mapped_column(String(100))
    seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=False))
