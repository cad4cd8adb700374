"""The customer dialogue: what a chat linked to a customer, or linked to nobody yet, can
do. It calls the services the portal calls (wallet, hotspot.backoffice, messaging), with
the customer as the actor ("telegram:customer:12"), never copies of them.

A chat linked to nobody reads the help, gets the registration link, links itself (a
one-time token from the portal, or its own phone number on Telegram) and may write to the
operator: its messages open a conversation that staff see as "not a customer yet". It
cannot touch money. Neither can the chat of a disabled customer.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from bots.chat import Button, ChatPerson, Incoming, Reply
from bots.i18n import Gettext, gettext_for
from messaging.actors import Actor
from messaging.chats import (
    chat_state,
    contact_key,
    link_by_phone,
    redeem_link_token,
    set_step,
)
from messaging.conversations import open_conversation, post_message
from messaging.models import Conversation
from wallet.errors import NotFound, WalletError
from wallet.models import Customer

#: Commands in English and Indonesian, each to the name of what it does.
COMMANDS = {
    "start": "start",
    "help": "help",
    "bantuan": "help",
    "menu": "help",
    "balance": "balance",
    "saldo": "balance",
    "history": "history",
    "riwayat": "history",
    "packages": "packages",
    "paket": "packages",
    "voucher": "voucher",
    "topup": "topup",
    "isi": "topup",
    "portal": "portal",
    "password": "portal",
    "sandi": "portal",
    "cancel": "cancel",
    "batal": "cancel",
}


class Chat:
    """One update being answered: the database session, who the chat is, its language."""

    def __init__(self, session: Session, settings, incoming: Incoming, person: ChatPerson, photo):
        self.session = session
        self.settings = settings
        self.incoming = incoming
        self.person = person
        self.photo = photo
        self._: Gettext = gettext_for(person.language)

    @property
    def platform(self) -> str:
        return self.person.platform

    def customer(self) -> Customer | None:
        if self.person.customer_id is None:
            return None
        return self.session.get(Customer, self.person.customer_id)

    def actor(self) -> Actor:
        if self.person.customer_id is not None:
            return Actor.customer(self.person.customer_id, channel=self.platform)
        return Actor.contact(contact_key(self.platform, self.person.chat_id), self.platform)

    @property
    def actor_name(self) -> str:
        return self.actor().name

    def key(self, what: str) -> str:
        """An idempotency key naming this update (a second delivery is the same act)."""
        return f"{self.platform}-{what}:{self.person.chat_id}:{self.incoming.update_id}"[:160]


def customer_dialogue(
    session: Session, settings, incoming: Incoming, person: ChatPerson, photo
) -> list[Reply]:
    chat = Chat(session, settings, incoming, person, photo)
    if incoming.phone:
        return _shared_phone(chat)
    command, argument = _command(incoming.text)
    if incoming.button:
        command, _, argument = incoming.button.partition(":")
    if command is not None:
        set_step(session, chat_state(session, chat.platform, person.chat_id), "")
        what = COMMANDS.get(command)
        if what == "start":
            return _start(chat, argument)
        if what == "help" or what is None:
            return _help(chat)
    if photo.refused:
        return [Reply(chat._("The photo must be a PNG, JPEG or GIF image of at most 5 MB."))]
    return _write_to_operator(chat)


def _command(text: str | None) -> tuple[str | None, str]:
    """("saldo", "") from "/saldo", ("start", "abc") from "/start abc" and
    "/start@PulsaBot abc"; (None, "") for a message that is not a command."""
    text = (text or "").strip()
    if not text.startswith("/") or len(text) < 2:
        return None, ""
    word, _, rest = text[1:].partition(" ")
    return word.split("@", 1)[0].lower(), rest.strip()


def registration_url(settings) -> str:
    return f"{settings.portal_address}/register"


# --- menus and help -------------------------------------------------------------------------


def menu(_: Gettext) -> tuple[tuple[Button, ...], ...]:
    return (
        (Button(_("Balance"), "balance"), Button(_("History"), "history")),
        (Button(_("Packages"), "packages"), Button(_("Top up"), "topup")),
        (Button(_("Voucher"), "voucher"), Button(_("Help"), "help")),
    )


def _help(chat: Chat) -> list[Reply]:
    _ = chat._
    if chat.person.customer_id is None:
        url = registration_url(chat.settings)
        return [
            Reply(
                _(
                    "Hello! This chat is not linked to a customer account yet.\n\n"
                    "Already a customer? Open your profile on the portal and press "
                    '"Connect Telegram", or share your phone number with the button '
                    "below.\n"
                    "Not a customer yet? Register here: %(url)s\n\n"
                    "You can also simply write your question here: the operator will "
                    "answer in this chat.",
                    url=url,
                ),
                ask_phone=chat.platform == "telegram",
            )
        ]
    return [
        Reply(
            _(
                "What would you like to do?\n"
                "/saldo (/balance): your credit\n"
                "/riwayat (/history): your last transactions\n"
                "/paket (/packages): buy an internet package\n"
                "/voucher: redeem a voucher\n"
                "/topup: ask for a top-up with the photo of your transfer\n"
                "/portal: a new link to the portal (forgot your password)\n"
                "/bantuan (/help): this help\n\n"
                "Anything else you write goes to the operator, who answers here."
            ),
            buttons=menu(_),
        )
    ]


def _start(chat: Chat, token: str) -> list[Reply]:
    """`/start` alone is the help; `/start <token>` (the portal's "Connect Telegram"
    link) links the chat."""
    if not token:
        return _help(chat)
    _ = chat._
    try:
        link = redeem_link_token(
            chat.session,
            chat.platform,
            chat.person.chat_id,
            token,
            language=chat.person.language,
        )
    except (NotFound, WalletError):
        return [
            Reply(
                _(
                    "This link is unknown, used or expired. Open your profile on the portal "
                    'and press "Connect Telegram" again.'
                )
            )
        ]
    return _linked(chat, link)


def _shared_phone(chat: Chat) -> list[Reply]:
    _ = chat._
    link = link_by_phone(
        chat.session,
        chat.platform,
        chat.person.chat_id,
        chat.incoming.phone or "",
        country_code=chat.settings.country_code,
        trunk_prefix=chat.settings.trunk_prefix,
        language=chat.person.language,
    )
    if link is None:
        url = registration_url(chat.settings)
        return [
            Reply(
                _(
                    "This phone number is not the number of a customer here. Open your "
                    'profile on the portal and press "Connect Telegram", or register: %(url)s',
                    url=url,
                )
            )
        ]
    return _linked(chat, link)


def _linked(chat: Chat, link) -> list[Reply]:
    if link.staff_id is not None:
        _ = gettext_for(link.language)
        return [Reply(_("This chat is now linked to your staff account."))]
    person = ChatPerson.of(chat.incoming, link)
    _ = gettext_for(person.language)
    customer = chat.session.get(Customer, link.customer_id)
    return [
        Reply(
            _(
                "Welcome, %(name)s! This chat is now linked to your account.",
                name=customer.name if customer else "",
            ),
            buttons=menu(_),
        )
    ]


# --- writing to the operator ----------------------------------------------------------------


def _current_conversation(chat: Chat) -> Conversation | None:
    """The chat's conversation still going on (not closed), opened in this chat app."""
    owner = (
        Conversation.customer_id == chat.person.customer_id
        if chat.person.customer_id is not None
        else (Conversation.customer_id.is_(None))
        & (Conversation.contact_key == contact_key(chat.platform, chat.person.chat_id))
    )
    return chat.session.execute(
        select(Conversation)
        .where(owner, Conversation.status != "closed", Conversation.channel == chat.platform)
        .order_by(Conversation.last_message_at.desc(), Conversation.id.desc())
        .limit(1)
    ).scalar_one_or_none()


def _write_to_operator(chat: Chat) -> list[Reply]:
    _ = chat._
    text = (chat.incoming.text or "").strip()
    if not text and not chat.photo.path:
        return _help(chat)
    actor = chat.actor()
    current = _current_conversation(chat)
    try:
        if current is None:
            open_conversation(
                chat.session,
                actor,
                topic="other",
                text=text,
                image_path=chat.photo.path,
                contact_label=(chat.incoming.sender_name or "")[:200],
                message_key=chat.key("message"),
            )
        else:
            post_message(
                chat.session,
                actor,
                current.id,
                text=text,
                image_path=chat.photo.path,
                message_key=chat.key("message"),
            )
    except WalletError:
        return [Reply(_("This message cannot be sent (too long, or an invisible character)."))]
    return [Reply(_("Sent to the operator. You will get the answer here."))]
