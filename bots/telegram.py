"""Telegram: the transport and renderer of the chat dialogue, over python-telegram-bot.

`TelegramBot(db, settings)` receives updates by long polling (the default: most small
operators have no public address) or, with PULSA_TELEGRAM_WEBHOOK_URL, by a webhook that
Telegram posts to (served on PULSA_TELEGRAM_WEBHOOK_HOST:PORT behind the operator's HTTPS
proxy, every request checked with a secret token derived from the bot's token). The Bot
API is reached at PULSA_TELEGRAM_API_URL: methods are `<base>/bot<token>/<method>`.

Each update becomes a `bots.dialogue.Incoming` (private chats only; a shared contact
counts as a phone number only when it is the sender's own; a photo, or an image sent as a
file, is downloaded with getFile) and is handled in a worker thread, one update of a chat
at a time and in order, many chats at once. The replies are rendered: buttons as an
inline keyboard, `ask_phone` as a one-time keyboard with the "share my phone number"
button, a document as a file with the text as its caption.

If Telegram cannot be reached when the bot starts, it keeps trying in the background:
nothing else of pulsa waits or fails for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import time
import weakref
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from urllib.parse import urlsplit

from bots.delivery import Pace, retry_after_seconds, telegram_pace
from bots.dialogue import Incoming, Reply, handle
from bots.i18n import N_, gettext_for
from messaging.chats import chat_language, forget_old_chat_updates, remember_bot
from messaging.notifications import watch
from wallet.db import Database

log = logging.getLogger("pulsa.bots.telegram")

MAX_TEXT = 4096  # Telegram's longest message
MAX_CAPTION = 1024
ALLOWED_UPDATES = ["message", "callback_query"]
HOUSEKEEPING_SECONDS = 3600.0
#: A reply refused with 429 is sent again after Telegram's retry_after, this many times.
RESENDS_AFTER_429 = 3
SHARE_PHONE = N_("Share my phone number")
SOMETHING_WENT_WRONG = N_("Something went wrong on our side. Please try again in a minute.")
#: The command menu Telegram shows, per language (the dialogue knows both languages'
#: commands whatever the menu says).
COMMAND_MENU = {
    "en": [
        ("balance", N_("Your credit")),
        ("history", N_("Your last transactions")),
        ("packages", N_("Buy an internet package")),
        ("voucher", N_("Redeem a voucher")),
        ("topup", N_("Ask for a top-up")),
        ("help", N_("Help")),
    ],
    "id": [
        ("saldo", N_("Your credit")),
        ("riwayat", N_("Your last transactions")),
        ("paket", N_("Buy an internet package")),
        ("voucher", N_("Redeem a voucher")),
        ("topup", N_("Ask for a top-up")),
        ("bantuan", N_("Help")),
    ],
}


def webhook_secret(token: str) -> str:
    """The secret Telegram sends with every webhook request (X-Telegram-Bot-Api-Secret-
    Token), derived from the bot's token so there is nothing more to configure."""
    return hmac.new(token.encode(), b"pulsa-telegram-webhook", hashlib.sha256).hexdigest()


def split_text(text: str, limit: int = MAX_TEXT) -> list[str]:
    """A long text in pieces Telegram accepts, cut at line ends where possible."""
    pieces: list[str] = []
    rest = text or ""
    while len(rest) > limit:
        cut = rest.rfind("\n", 0, limit)
        cut = cut if cut > 0 else limit
        pieces.append(rest[:cut])
        rest = rest[cut:].lstrip("\n")
    pieces.append(rest)
    return pieces


class TelegramBot:
    """The customer and staff bot on Telegram. `await start()`, later `await stop()`."""

    def __init__(
        self,
        db: Database,
        settings,
        *,
        workers: int = 16,
        poll_timeout: float = 10.0,
        retry_seconds: float = 5.0,
        pace: Pace | None = None,
    ) -> None:
        from telegram.ext import Application, TypeHandler
        from telegram.request import HTTPXRequest

        self.db = db
        # Telegram's limits hold for replies as for notices (a reply over them is refused
        # with 429): `pace` is shared with the outbox worker when both run here.
        self.pace = pace or telegram_pace()
        self.settings = settings
        # Money moved from a chat notifies like money moved anywhere (payment notices,
        # low balance): the events become outbox notices in the same transaction.
        watch(db, settings)
        self.poll_timeout = poll_timeout
        self.retry_seconds = retry_seconds
        base = settings.telegram_api_url.rstrip("/")
        # Long polls wait up to poll_timeout on one connection; sends get their own pool.
        self.application = (
            Application.builder()
            .token(settings.telegram_token)
            .base_url(f"{base}/bot")
            .base_file_url(f"{base}/file/bot")
            .request(HTTPXRequest(connection_pool_size=workers, read_timeout=10.0))
            .get_updates_request(HTTPXRequest(read_timeout=poll_timeout + 10.0))
            .concurrent_updates(256)
            .build()
        )
        self.application.add_handler(TypeHandler(object, self._on_update))
        self.application.add_error_handler(self._on_error)
        self.bot_id = settings.telegram_token.split(":", 1)[0]
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix="pulsa-telegram")
        self._chat_locks: weakref.WeakValueDictionary[int, asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )
        self._runner: asyncio.Task | None = None
        self.started = asyncio.Event()
        self.username: str | None = None

    # --- running ------------------------------------------------------------------------------

    async def start(self) -> None:
        """Start receiving updates; returns at once (Telegram may be unreachable now)."""
        self._runner = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        from telegram.error import InvalidToken, NetworkError, TimedOut

        while True:
            try:
                await self.application.initialize()
                break
            except InvalidToken:
                log.error("Telegram refused PULSA_TELEGRAM_TOKEN: the Telegram bot is off")
                return
            except (NetworkError, TimedOut) as error:
                log.warning(
                    "Telegram not reachable (%s); trying again in %.0f s",
                    error,
                    self.retry_seconds,
                )
                await asyncio.sleep(self.retry_seconds)
        self.username = self.application.bot.username
        await self._remember_name()
        await self._set_commands()
        await self.application.start()
        updater = self.application.updater
        if self.settings.telegram_webhook_url:
            path = urlsplit(self.settings.telegram_webhook_url).path.strip("/") or "telegram"
            await updater.start_webhook(
                listen=self.settings.telegram_webhook_host,
                port=self.settings.telegram_webhook_port,
                url_path=path,
                webhook_url=self.settings.telegram_webhook_url,
                secret_token=webhook_secret(self.settings.telegram_token),
                allowed_updates=ALLOWED_UPDATES,
                bootstrap_retries=-1,
            )
            log.info("Telegram bot @%s: webhook at %s", self.username, path)
        else:
            await updater.start_polling(
                timeout=timedelta(seconds=self.poll_timeout),
                allowed_updates=ALLOWED_UPDATES,
                bootstrap_retries=-1,
            )
            log.info("Telegram bot @%s: long polling", self.username)
        self.started.set()
        # `pulsa bot` has no housekeeping of its own: forget old update records here too.
        while True:
            await asyncio.sleep(HOUSEKEEPING_SECONDS)
            try:
                await asyncio.get_running_loop().run_in_executor(
                    self._executor, self.db.run, forget_old_chat_updates
                )
            except Exception:  # a database outage: next time
                log.exception("forgetting old chat updates failed")

    async def _remember_name(self) -> None:
        try:
            await asyncio.get_running_loop().run_in_executor(
                self._executor,
                lambda: self.db.run(lambda s: remember_bot(s, "telegram", self.username or "")),
            )
        except Exception:  # the portal's link waits for the next start; the bot runs on
            log.exception("could not note the Telegram bot's name")

    async def _set_commands(self) -> None:
        from telegram import BotCommand
        from telegram.error import TelegramError

        for language, commands in COMMAND_MENU.items():
            _ = gettext_for(language)
            menu = [BotCommand(name, _(description)) for name, description in commands]
            try:
                await self.application.bot.set_my_commands(
                    menu, language_code=None if language == "en" else language
                )
            except TelegramError as error:  # a menu is a nicety: never stop for it
                log.warning("Telegram command menu not set: %s", error)

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None and not runner.done():
            runner.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await runner
        application = self.application
        try:
            if application.updater is not None and application.updater.running:
                await application.updater.stop()
            if application.running:
                await application.stop()
            await application.shutdown()
        except Exception:
            log.exception("stopping the Telegram bot")
        self._executor.shutdown(wait=False, cancel_futures=True)

    # --- one update -----------------------------------------------------------------------------

    async def _on_update(self, update, context) -> None:
        from telegram import Update

        if not isinstance(update, Update):
            return
        chat = update.effective_chat
        if chat is None or chat.type != "private":
            return  # groups and channels: the dialogue is one person's
        # The chat's lock is the first thing awaited: taken in the order the updates
        # came (asyncio's lock is first come, first served), before anything else of
        # this update waits (a photo's download, the button's answer), so that a chat's
        # messages are handled in the order they were written.
        lock = self._chat_locks.get(chat.id)
        if lock is None:
            lock = self._chat_locks[chat.id] = asyncio.Lock()
        async with lock:
            query = update.callback_query
            if query is not None:
                # Stops the button's spinner before the dialogue runs.
                await self._quietly(query.answer())
            incoming = await self.incoming(update)
            if incoming is None:
                return
            replies = await asyncio.get_running_loop().run_in_executor(
                self._executor, handle, self.db, self.settings, incoming
            )
            for reply in replies:
                await self.send(chat.id, reply, language=incoming.language)

    async def incoming(self, update) -> Incoming | None:
        """The platform-neutral form of a Telegram update (None: nothing for the
        dialogue, e.g. a sticker alone)."""
        chat, user = update.effective_chat, update.effective_user
        common = {
            "platform": "telegram",
            "chat_id": str(chat.id),
            # The bot's id too: another bot (a new token) numbers its updates anew.
            "update_id": f"{self.bot_id}:{update.update_id}",
            "language": user.language_code if user else None,
            "sender_name": (user.full_name if user else "")[:200],
        }
        if update.callback_query is not None:
            data = update.callback_query.data
            return Incoming(button=data, **common) if data else None
        message = update.message
        if message is None:
            return None
        if message.contact is not None:
            own = user is not None and message.contact.user_id == user.id
            # Someone else's contact is not a proof of anything: it is just a message.
            if own:
                return Incoming(phone=message.contact.phone_number, **common)
            return Incoming(text=message.contact.phone_number, **common)
        photo = await self._photo(message)
        text = message.text or message.caption
        if text is None and photo is None:
            return None
        return Incoming(text=text, photo=photo, **common)

    async def _photo(self, message) -> bytes | None:
        from telegram.error import TelegramError

        attachment = None
        if message.photo:
            attachment = message.photo[-1]  # the largest size
        elif message.document is not None and (message.document.mime_type or "").startswith(
            "image/"
        ):
            attachment = message.document
        if attachment is None:
            return None
        try:
            file = await attachment.get_file()
            return bytes(await file.download_as_bytearray())
        except TelegramError as error:
            log.warning("a photo could not be downloaded: %s", error)
            return None

    # --- replies -----------------------------------------------------------------------------

    async def send(self, chat_id: int, reply: Reply, *, language: str | None = None) -> None:
        """Render and send one reply (a blocked chat or a lost connection is logged: the
        dialogue's answer is not worth more than that; notices go through the outbox)."""
        from telegram import (
            InlineKeyboardButton,
            InlineKeyboardMarkup,
            KeyboardButton,
            ReplyKeyboardMarkup,
        )

        markup = None
        if reply.buttons:
            markup = InlineKeyboardMarkup(
                [
                    [InlineKeyboardButton(b.label, callback_data=b.data) for b in row]
                    for row in reply.buttons
                ]
            )
        elif reply.ask_phone:
            _ = gettext_for(chat_language(language))
            markup = ReplyKeyboardMarkup(
                [[KeyboardButton(_(SHARE_PHONE), request_contact=True)]],
                one_time_keyboard=True,
                resize_keyboard=True,
            )
        bot = self.application.bot
        if reply.document is not None:
            name, data = reply.document
            caption = reply.text if len(reply.text) <= MAX_CAPTION else None
            await self._paced(
                chat_id,
                lambda: bot.send_document(
                    chat_id, document=data, filename=name, caption=caption, reply_markup=markup
                ),
            )
            if caption is not None:
                return
        pieces = split_text(reply.text)
        for number, piece in enumerate(pieces):
            last = number == len(pieces) - 1
            await self._paced(
                chat_id,
                lambda piece=piece, last=last: bot.send_message(
                    chat_id, piece, reply_markup=markup if last else None
                ),
            )

    async def _paced(self, chat_id: int, send: Callable[[], Awaitable[object]]) -> None:
        """Send one message within Telegram's limits: after the chat's last message by a
        second, then at the next moment of the overall pace (first come, first served, so
        that every waiting chat has its turn); a 429 pauses every send for Telegram's
        retry_after, then this one goes again."""
        from telegram.error import RetryAfter

        key, pace = str(chat_id), self.pace
        for _attempt in range(RESENDS_AFTER_429 + 1):
            await self._turn(key)
            await pace.leave()
            try:
                await self._quietly(send(), resend=True)
                return
            except RetryAfter as error:
                pace.pause(time.monotonic() + retry_after_seconds(error))
                log.warning("Telegram asks to slow down: %s", error)
            finally:
                pace.answered()
                # The chat's second counts from Telegram's answer, as in the outbox worker.
                pace.next_by_chat[key] = max(
                    pace.next_by_chat.get(key, 0.0), time.monotonic() + pace.chat_interval
                )
        log.warning("a reply to chat %s was not sent: Telegram kept refusing it (429)", key)

    async def _turn(self, key: str) -> None:
        """Wait for this chat's turn in the pace, then take it."""
        pace = self.pace
        while True:
            now = time.monotonic()
            # The chat's own second (and a pause) first, without holding a moment of the
            # overall pace meanwhile: other chats use those moments.
            ready = max(pace.next_by_chat.get(key, 0.0), pace.paused_until)
            if ready > now:
                await asyncio.sleep(ready - now)
                continue
            at = max(pace.next_overall, now)
            pace.take(key, at)
            pace.forget_idle_chats(now)
            if at > now:
                await asyncio.sleep(at - now)
            if pace.paused_until <= time.monotonic():
                return

    async def _quietly(self, call, *, resend: bool = False) -> None:
        from telegram.error import Forbidden, RetryAfter, TelegramError

        try:
            await call
        except RetryAfter as error:
            if resend:
                raise
            log.warning("Telegram asks to slow down: %s", error)
        except Forbidden as error:
            log.info("a chat blocked the bot: %s", error)
        except TelegramError as error:
            log.warning("a reply was not sent: %s", error)

    async def _on_error(self, update, context) -> None:
        log.error("a Telegram update failed", exc_info=context.error)
        chat = getattr(update, "effective_chat", None)
        if chat is None or chat.type != "private":
            return
        user = getattr(update, "effective_user", None)
        _ = gettext_for(chat_language(user.language_code if user else None))
        await self._paced(
            chat.id, lambda: self.application.bot.send_message(chat.id, _(SOMETHING_WENT_WRONG))
        )
