"""What a chat sends and receives, whatever the platform: the types of bots.dialogue
(imported from there by the transports)."""

from __future__ import annotations

from dataclasses import dataclass

from messaging.chats import chat_language
from messaging.models import ChatLink


@dataclass(frozen=True)
class Button:
    """A button under a reply: what it says, and the data that comes back (as
    `Incoming.button`) when it is pressed (at most 64 bytes: Telegram's limit)."""

    label: str
    data: str


@dataclass(frozen=True)
class Reply:
    """One message to the chat: text, rows of buttons, a file (name, bytes), and whether
    to ask for the sender's phone number (Telegram: a "share my phone number" keyboard)."""

    text: str
    buttons: tuple[tuple[Button, ...], ...] = ()
    document: tuple[str, bytes] | None = None
    ask_phone: bool = False


@dataclass(frozen=True)
class Incoming:
    """One update from a chat, whatever the platform.

    `chat_id` is the chat (Telegram chat id, LINE user id) and `update_id` what makes the
    update unique on its platform (Telegram update_id, LINE webhookEventId). `text` is a
    message or a command ("/saldo"), `button` the data of a pressed button, `photo` the
    bytes of a photo sent, `phone` a shared contact's number: the transport sets it only
    when the contact is the sender's own. `language` is the chat app's language code.
    """

    platform: str
    chat_id: str
    update_id: str
    text: str | None = None
    button: str | None = None
    photo: bytes | None = None
    phone: str | None = None
    language: str | None = None
    sender_name: str | None = None


@dataclass(frozen=True)
class ChatPerson:
    """Who a chat is, detached from the database session: its link (customer or staff)
    or nobody, and its language."""

    platform: str
    chat_id: str
    language: str
    customer_id: int | None = None
    staff_id: int | None = None
    link_id: int | None = None

    @classmethod
    def of(cls, incoming: Incoming, link: ChatLink | None) -> ChatPerson:
        if link is None:
            return cls(incoming.platform, str(incoming.chat_id), chat_language(incoming.language))
        return cls(
            incoming.platform,
            str(incoming.chat_id),
            link.language,
            customer_id=link.customer_id,
            staff_id=link.staff_id,
            link_id=link.id,
        )
