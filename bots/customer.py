"""The customer dialogue: what a chat linked to a customer, or linked to nobody yet, can
do. It calls the services the portal calls (wallet, hotspot.backoffice, messaging), with
the customer as the actor ("telegram:customer:12"), never copies of them.

A chat linked to nobody reads the help, gets the registration link, links itself (a
one-time token from the portal, or its own phone number on Telegram) and may write to the
operator: its messages open a conversation that staff see as "not a customer yet". It
cannot touch money. Neither can the chat of a disabled customer.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import timedelta
from typing import TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bots.chat import Button, ChatPerson, Incoming, Reply
from bots.i18n import N_, Gettext, gettext_for
from hotspot.backoffice import (
    redeem_package_voucher,
    staff_buy_package,
    staff_redeem_voucher,
    voucher_is_for_a_package,
)
from messaging.actors import Actor
from messaging.chats import (
    chat_state,
    contact_key,
    link_by_phone,
    redeem_link_token,
    set_chat_language,
    set_step,
    step_data,
)
from messaging.conversations import open_conversation, post_message
from messaging.models import CHANNELS, CHAT_CHANNELS, ChatLink, Conversation
from messaging.wording import (
    calls_of_entries,
    describe_entry,
    money_text,
    package_text,
    when_text,
)
from rating.money import AmountError, parse_amount
from wallet.customer_access import customer_actor, issue_portal_link, portal_link_url
from wallet.db import OPTIMISTIC_KEYS, SKIPPED_KEY_LOOKUP
from wallet.errors import IdempotencyConflict, InsufficientFunds, NotFound, WalletError
from wallet.hotspot_models import HotspotLogin, InternetPackage, Subscription
from wallet.internet import not_over
from wallet.ledger import utcnow
from wallet.models import Account, Call, Customer, LedgerEntry
from wallet.payments import active_bank_accounts, request_top_up
from wallet.site_settings import SiteConfig, load_site_config

T = TypeVar("T")

#: Commands in Indonesian and English, each to what it does.
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
    "language": "language",
    "bahasa": "language",
    "cancel": "cancel",
    "batal": "cancel",
}
#: What only a button sends (its data): "buy:<package>", "ok:<package>:<login>:<nonce>",
#: "lang:<en|id>", and the menu's names.
BUTTONS = {
    "balance",
    "history",
    "packages",
    "topup",
    "voucher",
    "help",
    "portal",
    "cancel",
    "language",
    "buy",
    "ok",
    "lang",
    "vlogin",
}
MONEY = {"packages", "buy", "ok", "voucher", "vlogin", "topup"}
#: A dialogue of several steps (a top-up waiting for its photo) is forgotten after this.
STEP_LIFETIME = timedelta(minutes=30)
HISTORY_LINES = 10


def _may_hide_a_replay(session: Session) -> bool:
    """A refusal after the wallet skipped an idempotency lookup (wallet.db.Database.run's
    optimistic first try) may be a replay: let `run` try again, looking keys up."""
    return bool(session.info.get(OPTIMISTIC_KEYS) and session.info.get(SKIPPED_KEY_LOOKUP))


class Chat:
    """One update being answered: the database session, who the chat is, its language."""

    def __init__(
        self,
        session: Session,
        settings,
        incoming: Incoming,
        person: ChatPerson,
        photo,
        site: SiteConfig | None = None,
    ):
        self.session = session
        self.settings = settings
        self.incoming = incoming
        self.person = person
        self.photo = photo
        self._: Gettext = gettext_for(person.language)
        self._site = site
        self._account: Account | None = None

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

    @property
    def site(self) -> SiteConfig:
        if self._site is None:
            self._site = load_site_config(self.session, self.settings)
        return self._site

    def money(self, micro: int) -> str:
        return money_text(
            micro,
            currency=self.settings.currency,
            precision=self.site.display_precision,
            locale=self.person.language,
        )

    def when(self, moment) -> str:
        return when_text(
            moment, timezone=self.site.timezone, locale=self.person.language, style="short"
        )

    def account(self) -> Account | None:
        """The customer's wallet, read once per update (a service that changes it
        refreshes the same object in this session)."""
        if self._account is None:
            statement = (
                select(Account)
                .where(Account.customer_id == self.person.customer_id)
                .order_by(Account.id)
                .limit(1)
            )
            self._account = self.session.execute(statement).scalar_one_or_none()
        return self._account

    @property
    def actor_text(self) -> str:
        """The actor on ledger entries and in the audit log: "telegram:customer:12"."""
        return customer_actor(self.person.customer_id, self.platform)

    def key(self, what: str) -> str:
        """An idempotency key naming this update (a second delivery is the same act)."""
        return f"{self.platform}-{what}:{self.person.chat_id}:{self.incoming.update_id}"[:160]


def customer_dialogue(
    session: Session,
    settings,
    incoming: Incoming,
    person: ChatPerson,
    photo,
    *,
    site: SiteConfig | None = None,
) -> list[Reply]:
    """The answers to a customer's (or a stranger's) update; `site`: the operator's
    settings when the caller read them already in this transaction."""
    chat = Chat(session, settings, incoming, person, photo, site)
    if incoming.phone:
        return _shared_phone(chat)
    state = chat_state(session, chat.platform, person.chat_id, lock=True)
    step, data = state.step, step_data(state)
    if step and state.updated_at < utcnow() - STEP_LIFETIME:
        step, data = "", {}
    if incoming.button:
        what, _, argument = incoming.button.partition(":")
        what = what if what in BUTTONS else "help"
    else:
        command, argument = _command(incoming.text)
        what = COMMANDS.get(command, "help") if command is not None else None
    if what is not None:
        # A command or a button ends any dialogue of several steps.
        if step:
            set_step(session, state, "")
        return _act(chat, what, argument, step, data)
    if step == "topup_amount" and incoming.text:
        return _top_up_amount(chat, state, incoming.text)
    if step == "topup_photo":
        return _top_up_photo(chat, state, data)
    if step == "voucher" and incoming.text:
        set_step(session, state, "")
        return _redeem(chat, incoming.text)
    if photo.refused:
        return [Reply(chat._("The photo must be a PNG, JPEG or GIF image of at most 5 MB."))]
    return _write_to_operator(chat)


def _act(
    chat: Chat, what: str, argument: str, step: str = "", data: dict | None = None
) -> list[Reply]:
    if what == "start":
        return _start(chat, argument)
    if what in ("help", "cancel") and chat.person.customer_id is None:
        return _help(chat)
    if what == "cancel":
        return [Reply(chat._("Cancelled."), buttons=menu(chat._))]
    refusal = _refusal(chat, money=what in MONEY)
    if refusal is not None:
        return refusal
    if what == "balance":
        return _balance(chat)
    if what == "history":
        return _history(chat)
    if what == "packages":
        return _packages(chat)
    if what == "buy":
        return _confirm_purchase(chat, argument)
    if what == "ok":
        return _buy(chat, argument)
    if what == "voucher":
        return _voucher(chat, argument)
    if what == "vlogin":
        return _voucher_login(chat, argument, step, data or {})
    if what == "topup":
        return _top_up(chat, argument)
    if what == "portal":
        return _portal_link(chat)
    if what in ("language", "lang"):
        return _language(chat, argument)
    return _help(chat)


def _refusal(chat: Chat, *, money: bool) -> list[Reply] | None:
    """Why this chat may not do what it asks: linked to nobody (it may only read the
    help and write), or a disabled customer, or (for money) a wallet that is not active."""
    _ = chat._
    if chat.person.customer_id is None:
        if chat.platform == "line":
            return [
                Reply(
                    _(
                        "First link this chat to your account: open your profile on the "
                        'portal, press "Connect LINE" and send the code it shows here.'
                    )
                )
            ]
        return [
            Reply(
                _(
                    "First link this chat to your account: open your profile on the portal "
                    'and press "Connect Telegram", or share your phone number.'
                ),
                ask_phone=chat.platform == "telegram",
            )
        ]
    customer = chat.customer()
    account = chat.account()
    if customer is None or customer.status == "disabled" or account is None:
        return [Reply(_("Your account is disabled. Write here to talk with the operator."))]
    if money and account.status != "active":
        return [
            Reply(
                _(
                    "Your wallet is %(status)s: buying, vouchers and top-ups are not possible. "
                    "Write here to talk with the operator.",
                    status=_(account.status),
                )
            )
        ]
    return None


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


# Wallet states as the customer reads them (_refusal).
WALLET_STATES = (N_("blocked"), N_("closed"))


def _help(chat: Chat) -> list[Reply]:
    _ = chat._
    if chat.person.customer_id is None:
        url = registration_url(chat.settings)
        if chat.platform == "line":
            # LINE has no "share my phone number": the portal's code links the chat.
            return [
                Reply(
                    _(
                        "Hello! This chat is not linked to a customer account yet.\n\n"
                        'Already a customer? Open your profile on the portal, press "Connect '
                        'LINE" and send the code it shows here.\n'
                        "Not a customer yet? Register here: %(url)s\n\n"
                        "You can also simply write your question here: the operator will "
                        "answer in this chat.",
                        url=url,
                    )
                )
            ]
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
                "/bahasa (/language): Bahasa Indonesia or English\n"
                "/bantuan (/help): this help\n\n"
                "Anything else you write goes to the operator, who answers here."
            ),
            buttons=menu(_),
        )
    ]


def _start(chat: Chat, token: str) -> list[Reply]:
    """`/start` alone is the help; `/start <token>` (the portal's "Connect Telegram"
    link; on LINE the code of "Connect LINE", typed: bots.line makes it `/start <code>`)
    links the chat."""
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
        if chat.platform == "line":
            return [
                Reply(
                    _(
                        "This code is unknown, used or expired. Open your profile on the "
                        'portal and press "Connect LINE" again for a new code.'
                    )
                )
            ]
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
    """The chat's conversation still going on (not closed): the latest of those whose
    replies this chat gets, opened in this chat app or, for a linked customer, on the
    portal or by staff in the admin (their replies reach every chat of the customer), so
    that answering a reply in the chat continues the same conversation."""
    if chat.person.customer_id is not None:
        owner = Conversation.customer_id == chat.person.customer_id
        channels = (chat.platform, *(c for c in CHANNELS if c not in CHAT_CHANNELS))
    else:
        owner = (Conversation.customer_id.is_(None)) & (
            Conversation.contact_key == contact_key(chat.platform, chat.person.chat_id)
        )
        channels = (chat.platform,)
    return chat.session.execute(
        select(Conversation)
        .where(owner, Conversation.status != "closed", Conversation.channel.in_(channels))
        .order_by(Conversation.last_message_at.desc(), Conversation.id.desc())
        .limit(1)
    ).scalar_one_or_none()


def _printable(text: str) -> str:
    """A chat app's display name without what the conversation list cannot show."""
    return "".join(c for c in text if c.isprintable())


def _write_to_operator(chat: Chat) -> list[Reply]:
    _ = chat._
    text = (chat.incoming.text or "").strip()
    if not text and not chat.photo.path:
        return _help(chat)
    actor = chat.actor()
    current = _current_conversation(chat)
    try:
        with chat.session.begin_nested():
            if current is None:
                open_conversation(
                    chat.session,
                    actor,
                    topic="other",
                    text=text,
                    image_path=chat.photo.path,
                    contact_label=_printable(chat.incoming.sender_name or "")[:200],
                    message_key=chat.key("message"),
                )
                added = True
            else:
                _message, added = post_message(
                    chat.session,
                    actor,
                    current.id,
                    text=text,
                    image_path=chat.photo.path,
                    message_key=chat.key("message"),
                )
        chat.photo.used = bool(added and chat.photo.path)
    except WalletError:
        return [Reply(_("This message cannot be sent (too long, or an invisible character)."))]
    return [Reply(_("Sent to the operator. You will get the answer here."))]


# --- balance and history ------------------------------------------------------------------


def _balance(chat: Chat) -> list[Reply]:
    _ = chat._
    account = chat.account()
    lines = [_("Your credit: %(amount)s", amount=chat.money(account.balance))]
    if account.held:
        calls = chat.session.execute(
            select(func.count(Call.id)).where(
                Call.account_id == account.id, Call.status.in_(("authorized", "answered"))
            )
        ).scalar_one()
        lines.append(
            _(
                "Held by calls in progress (%(calls)s): %(amount)s",
                calls=calls,
                amount=chat.money(account.held),
            )
            if calls
            else _("Held by sessions in progress: %(amount)s", amount=chat.money(account.held))
        )
    if account.credit_limit:
        lines.append(_("Credit limit: %(amount)s", amount=chat.money(account.credit_limit)))
    lines.append(_("Available now: %(amount)s", amount=chat.money(account.available)))
    threshold = chat.site.low_balance_threshold
    if threshold > 0 and account.available < threshold:
        lines.append(_("Your credit is low: top up with /topup or a /voucher."))
    now = utcnow()
    running = chat.session.execute(
        select(Subscription, HotspotLogin.username, InternetPackage.name)
        .join(HotspotLogin, HotspotLogin.id == Subscription.login_id)
        .join(InternetPackage, InternetPackage.id == Subscription.package_id)
        .where(
            HotspotLogin.customer_id == chat.person.customer_id,
            Subscription.status == "active",
            not_over(now),
        )
        .order_by(Subscription.starts_at, Subscription.id)
    ).all()
    for subscription, username, package in running:
        if subscription.awaits_start:
            lines.append(
                _(
                    "Internet: %(package)s for %(login)s, waiting for the router: "
                    "its time starts once a router has it",
                    package=package,
                    login=username,
                )
            )
        elif subscription.starts_at <= now:
            lines.append(
                _(
                    "Internet: %(package)s for %(login)s until %(end)s",
                    package=package,
                    login=username,
                    end=chat.when(subscription.ends_at),
                )
            )
        else:
            lines.append(
                _(
                    "Internet: %(package)s for %(login)s from %(start)s",
                    package=package,
                    login=username,
                    start=chat.when(subscription.starts_at),
                )
            )
    return [Reply("\n".join(lines), buttons=menu(_))]


def _history(chat: Chat) -> list[Reply]:
    _ = chat._
    account = chat.account()
    entries = list(
        chat.session.execute(
            select(LedgerEntry)
            .where(LedgerEntry.account_id == account.id)
            .order_by(LedgerEntry.id.desc())
            .limit(HISTORY_LINES)
        ).scalars()
    )
    if not entries:
        return [Reply(_("No transactions yet."), buttons=menu(_))]
    lines = [_("Your last transactions:")]
    for entry, dialled, billsec in calls_of_entries(chat.session, entries):
        words = describe_entry(
            entry,
            dialled,
            billsec,
            _,
            country_code=chat.settings.country_code,
            trunk_prefix=chat.settings.trunk_prefix,
        )
        sign = "+" if entry.amount > 0 else "-"
        lines.append(
            f"{chat.when(entry.created_at)}  {words}  {sign}{chat.money(abs(entry.amount))}"
        )
    lines.append(_("Balance: %(amount)s", amount=chat.money(account.balance)))
    return [Reply("\n".join(lines), buttons=menu(_))]


# --- internet packages ----------------------------------------------------------------------


def _packages(chat: Chat) -> list[Reply]:
    _ = chat._
    available = chat.account().available
    packages = list(
        chat.session.execute(
            select(InternetPackage)
            .where(InternetPackage.active.is_(True))
            .order_by(InternetPackage.price, InternetPackage.name)
            .limit(20)
        ).scalars()
    )
    if not packages:
        return [Reply(_("No internet packages are on sale now."), buttons=menu(_))]
    lines = [_("Internet packages (available: %(amount)s):", amount=chat.money(available))]
    buttons = []
    for package in packages:
        words = package_text(package, _, locale=chat.person.language)
        line = f"- {package.name}: {chat.money(package.price)} ({words})"
        if package.price > available:
            line += " " + _(
                "(top up %(amount)s more)", amount=chat.money(package.price - available)
            )
        else:
            buttons.append(
                (Button(_("Buy %(name)s", name=package.name)[:60], f"buy:{package.id}"),)
            )
        lines.append(line)
    if not buttons:
        lines.append(_("Your credit is not enough for a package yet: /topup or /voucher."))
    return [Reply("\n".join(lines), buttons=tuple(buttons))]


def _my_logins(chat: Chat) -> list[HotspotLogin]:
    return list(
        chat.session.execute(
            select(HotspotLogin)
            .where(
                HotspotLogin.customer_id == chat.person.customer_id,
                HotspotLogin.kind == "customer",
                HotspotLogin.status == "active",
            )
            .order_by(HotspotLogin.id)
        ).scalars()
    )


def _numbers(text: str, count: int) -> list[int] | None:
    parts = (text or "").split(":")
    if len(parts) < count or not all(
        p.isascii() and p.isdigit() and len(p) < 19 for p in parts[:count]
    ):
        return None
    return [int(p) for p in parts[:count]]


def _confirm_purchase(chat: Chat, argument: str) -> list[Reply]:
    """The confirmation of a purchase: a button per hotspot login of the customer, each
    carrying a fresh nonce, so pressing it twice buys once."""
    _ = chat._
    numbers = _numbers(argument, 1)
    package = chat.session.get(InternetPackage, numbers[0]) if numbers else None
    if package is None or not package.active:
        return [Reply(_("This package is not sold any more."), buttons=menu(_))]
    logins = _my_logins(chat)
    if not logins:
        return [
            Reply(
                _(
                    "You have no active hotspot login to put a package on. Write here and the "
                    "operator will make one."
                )
            )
        ]
    nonce = secrets.token_hex(6)
    rows = tuple(
        (
            Button(
                _("Yes, for %(login)s", login=login.username)[:60],
                f"ok:{package.id}:{login.id}:{nonce}",
            ),
        )
        for login in logins[:5]
    )
    text = _(
        "Buy %(name)s (%(words)s) for %(price)s from your credit?",
        name=package.name,
        words=package_text(package, _, locale=chat.person.language),
        price=chat.money(package.price),
    )
    return [Reply(text, buttons=(*rows, (Button(_("Cancel"), "cancel"),)))]


def _buy(chat: Chat, argument: str) -> list[Reply]:
    _ = chat._
    numbers = _numbers(argument, 2)
    nonce = argument.split(":")[2] if argument.count(":") == 2 else ""
    if numbers is None or not nonce.isalnum() or len(nonce) > 32:
        return _help(chat)
    package_id, login_id = numbers
    login = chat.session.get(HotspotLogin, login_id)
    if login is None or login.customer_id != chat.person.customer_id or login.kind != "customer":
        return [Reply(_("This package is not sold any more."), buttons=menu(_))]
    package = chat.session.get(InternetPackage, package_id)
    if package is None or not package.active:
        return [Reply(_("This package is not sold any more."), buttons=menu(_))]
    key = f"{chat.platform}-buy:{chat.person.customer_id}:{nonce}"
    try:
        with chat.session.begin_nested():
            subscription, new = staff_buy_package(
                chat.session,
                login.id,
                package.id,
                key=key,
                auto_renew=False,
                actor=chat.actor_text,
            )
    except InsufficientFunds as error:
        if _may_hide_a_replay(chat.session):
            raise
        return [
            Reply(
                _(
                    "Not enough credit: %(available)s available, %(needed)s needed.",
                    available=chat.money(error.available or 0),
                    needed=chat.money(error.needed or package.price),
                ),
                buttons=menu(_),
            )
        ]
    except IdempotencyConflict:
        return [Reply(_("This button expired. Choose the package again: /paket"))]
    except WalletError:
        if _may_hide_a_replay(chat.session):
            raise
        return [Reply(_("This purchase is not possible now. Write here to ask the operator."))]
    done = (
        _("Bought: %(name)s.", name=package.name)
        if new
        else _("This purchase was made already; nothing more was charged.")
    )
    return [
        Reply(
            "\n".join(
                [
                    done,
                    _("Hotspot login: %(login)s", login=login.username),
                    _("Password: %(password)s", password=login.password),
                    _("Its time starts once a router has it.")
                    if subscription.awaits_start
                    else _("Valid until %(end)s", end=chat.when(subscription.ends_at)),
                ]
            ),
            buttons=menu(_),
        )
    ]


# --- vouchers --------------------------------------------------------------------------------


def _voucher(chat: Chat, argument: str) -> list[Reply]:
    if argument.strip():
        return _redeem(chat, argument)
    state = chat_state(chat.session, chat.platform, chat.person.chat_id)
    set_step(chat.session, state, "voucher")
    return [Reply(chat._("Send the voucher code (and its password after a space, if it has one)."))]


def _redeem(chat: Chat, text: str) -> list[Reply]:
    _ = chat._
    parts = text.split()
    code = parts[0] if parts else ""
    password = parts[1] if len(parts) > 1 else None
    if not code or len(code) > 64 or (password and len(password) > 64):
        return [Reply(_("No voucher with this code (and password)."))]
    if voucher_is_for_a_package(chat.session, code):
        return _package_voucher(chat, code, password)
    account = chat.account()
    redeemed, refusal = _redeeming(
        chat,
        lambda: staff_redeem_voucher(
            chat.session, account.id, code, password=password, actor=chat.actor_text
        ),
    )
    if refusal:
        return refusal
    entry, new = redeemed
    if not new:
        return [
            Reply(
                _("This voucher was redeemed already; nothing more was added."),
                buttons=menu(_),
            )
        ]
    balance = chat.session.get(Account, account.id).balance
    return [
        Reply(
            _(
                "%(amount)s added to your credit. Your credit: %(balance)s",
                amount=chat.money(entry.amount),
                balance=chat.money(balance),
            ),
            buttons=menu(_),
        )
    ]


def _redeeming(chat: Chat, redeem: Callable[[], T]) -> tuple[T | None, list[Reply]]:
    """Redeem a voucher (money or package) in a savepoint: its result, or the replies
    refusing it (unknown code, used or void) with the savepoint undone. A refusal that may
    hide a replay is raised for `Database.run` to look the key up."""
    _ = chat._
    try:
        with chat.session.begin_nested():
            return redeem(), []
    except NotFound:
        return None, [Reply(_("No voucher with this code (and password)."))]
    except WalletError:
        if _may_hide_a_replay(chat.session):
            raise
        return None, [Reply(_("This voucher cannot be redeemed (used, void or redeemed)."))]


def _package_voucher(chat: Chat, code: str, password: str | None) -> list[Reply]:
    """A package voucher starts its package on one of the customer's logins, like on the
    portal: the only one at once, else the one they press (the code waits in the chat's
    state, never in a button)."""
    _ = chat._
    logins = _customer_logins(chat)
    if not logins:
        return [
            Reply(
                _(
                    "This voucher is for an internet package and you have no internet "
                    "login yet: ask us for one."
                )
            )
        ]
    if len(logins) == 1:
        return _redeem_package(chat, logins[0], code, password)
    state = chat_state(chat.session, chat.platform, chat.person.chat_id)
    set_step(chat.session, state, "voucher_login", {"code": code, "password": password})
    return [
        Reply(
            _("Choose the login that gets the package."),
            buttons=(
                *((Button(login.username[:60], f"vlogin:{login.id}"),) for login in logins[:10]),
                (Button(_("Cancel"), "cancel"),),
            ),
        )
    ]


def _customer_logins(chat: Chat) -> list[HotspotLogin]:
    return list(
        chat.session.execute(
            select(HotspotLogin)
            .where(
                HotspotLogin.customer_id == chat.person.customer_id,
                HotspotLogin.kind == "customer",
            )
            .order_by(HotspotLogin.id)
        ).scalars()
    )


def _voucher_login(chat: Chat, argument: str, step: str, data: dict) -> list[Reply]:
    """The login pressed for the package voucher typed before."""
    numbers = _numbers(argument, 1)
    code, password = data.get("code"), data.get("password")
    if step != "voucher_login" or numbers is None or not isinstance(code, str):
        return [Reply(chat._("This button expired. Send the voucher code again: /voucher"))]
    login = next((x for x in _customer_logins(chat) if x.id == numbers[0]), None)
    if login is None:  # not theirs: as if it did not exist
        return [Reply(chat._("This button expired. Send the voucher code again: /voucher"))]
    return _redeem_package(chat, login, code, password if isinstance(password, str) else None)


def _redeem_package(
    chat: Chat, login: HotspotLogin, code: str, password: str | None
) -> list[Reply]:
    _ = chat._
    redeemed, refusal = _redeeming(
        chat,
        lambda: redeem_package_voucher(
            chat.session, login.id, code, password=password, actor=chat.actor_text
        ),
    )
    if refusal:
        return refusal
    subscription, new = redeemed
    package = subscription.package.name if subscription.package else ""
    if not new:
        text = _("This voucher was redeemed already; nothing more was added.")
    elif subscription.awaits_start:
        text = _(
            "%(package)s added to %(login)s. Its time starts once the router has it.",
            package=package,
            login=login.username,
        )
    else:
        text = _(
            "%(package)s added to %(login)s, from %(start)s until %(end)s.",
            package=package,
            login=login.username,
            start=chat.when(subscription.starts_at),
            end=chat.when(subscription.ends_at),
        )
    return [Reply(text, buttons=menu(_))]


# --- top-up requests -------------------------------------------------------------------------


def _top_up(chat: Chat, argument: str) -> list[Reply]:
    state = chat_state(chat.session, chat.platform, chat.person.chat_id)
    if argument.strip():
        return _top_up_amount(chat, state, argument)
    set_step(chat.session, state, "topup_amount")
    return [
        Reply(
            chat._(
                "How much did you transfer (or will you)? Write the amount, e.g. %(example)s.",
                example=chat.money(
                    50_000_000_000 if chat.site.display_precision == 0 else 50_000_000
                ),
            )
        )
    ]


def _top_up_amount(chat: Chat, state, text: str) -> list[Reply]:
    _ = chat._
    try:
        amount = parse_amount(
            text.strip(),
            precision=chat.site.display_precision,
            currency=chat.settings.currency,
        )
    except (AmountError, ValueError):
        set_step(chat.session, state, "topup_amount")
        return [Reply(_("That is not an amount. Write the amount again, or /batal to stop."))]
    if amount <= 0:
        set_step(chat.session, state, "topup_amount")
        return [Reply(_("The amount must be greater than zero. Write it again."))]
    set_step(chat.session, state, "topup_photo", {"amount": amount})
    banks = active_bank_accounts(chat.session)
    lines = [_("Top-up of %(amount)s.", amount=chat.money(amount))]
    if banks:
        lines.append(_("Pay into one of these accounts:"))
        for bank in banks:
            line = f"- {bank.bank_name} {bank.account_number} ({bank.holder_name})"
            if bank.instructions:
                line += f": {bank.instructions}"
            lines.append(line)
    lines.append(_("Then send the photo of the transfer receipt here (or /batal to stop)."))
    return [Reply("\n".join(lines), buttons=((Button(_("Cancel"), "cancel"),),))]


def _top_up_photo(chat: Chat, state, data: dict) -> list[Reply]:
    _ = chat._
    amount = data.get("amount")
    if not isinstance(amount, int) or amount <= 0:
        set_step(chat.session, state, "")
        return _help(chat)
    if chat.photo.refused:
        return [Reply(_("The photo must be a PNG, JPEG or GIF image of at most 5 MB."))]
    if not chat.photo.path:
        return [
            Reply(
                _("Send the photo of the transfer receipt now, or /batal to stop."),
                buttons=((Button(_("Cancel"), "cancel"),),),
            )
        ]
    account = chat.account()
    with chat.session.begin_nested():
        _request, new = request_top_up(
            chat.session,
            account.id,
            amount,
            actor=chat.actor_text,
            source="chat",
            note=_("Sent from %(platform)s", platform=chat.platform.capitalize()),
            proof_path=chat.photo.path,
        )
    set_step(chat.session, state, "")
    chat.photo.used = new
    if not new:
        return [Reply(_("This request was sent already."), buttons=menu(_))]
    return [
        Reply(
            _(
                "Sent. We will add %(amount)s to your credit once we see the transfer, and "
                "tell you here.",
                amount=chat.money(amount),
            ),
            buttons=menu(_),
        )
    ]


# --- portal link and language ----------------------------------------------------------------


def _portal_link(chat: Chat) -> list[Reply]:
    _ = chat._
    token, expires = issue_portal_link(chat.session, chat.person.customer_id, actor=chat.actor_text)
    url = portal_link_url(chat.settings.portal_address, token)
    return [
        Reply(
            _(
                "Here is a new link to set your portal password, valid until %(end)s. "
                "Do not share it:\n%(url)s",
                end=chat.when(expires),
                url=url,
            )
        )
    ]


def _language(chat: Chat, argument: str) -> list[Reply]:
    if argument in ("en", "id"):
        link = chat.session.get(ChatLink, chat.person.link_id)
        set_chat_language(chat.session, link, argument)
        _ = gettext_for(argument)
        return [Reply(_("I will write in English from now on."), buttons=menu(_))]
    return [
        Reply(
            chat._("Choose your language:"),
            buttons=((Button("English", "lang:en"), Button("Bahasa Indonesia", "lang:id")),),
        )
    ]
