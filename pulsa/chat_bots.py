"""The Telegram bot as run by `pulsa bot` and `pulsa serve` (beside the outbox worker,
pulsa.serve._start_delivery): started when PULSA_TELEGRAM_TOKEN is set; nothing starts and
nothing fails otherwise, nor when Telegram cannot be reached (the bot keeps trying).

(LINE's webhook lives in the portal's web server: pulsa.web_server.with_chat_webhooks.)
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from pulsa.settings import Settings
from wallet.db import Database

log = logging.getLogger("pulsa.bots")


def shared_paces(settings: Settings) -> dict:
    """The rate limits the bots' replies and the outbox worker keep together in this
    process (Telegram counts both against the bot's allowance): by platform."""
    if not settings.telegram_token:
        return {}
    from bots.delivery import telegram_pace

    return {"telegram": telegram_pace()}


async def start_telegram_bot(
    settings: Settings,
    database: Database,
    announce: Callable[[str], None] = log.info,
    *,
    paces: dict | None = None,
) -> Callable[[], Awaitable[None]] | None:
    """Start the Telegram bot when configured; returns what stops it (None: not started).
    `paces`: those of `shared_paces`, shared with the outbox worker."""
    if not settings.telegram_token:
        announce("Telegram bot off: PULSA_TELEGRAM_TOKEN is not set")
        return None
    from bots.telegram import TelegramBot

    bot = TelegramBot(database, settings, pace=(paces or {}).get("telegram"))
    await bot.start()
    mode = (
        f"webhook {settings.telegram_webhook_url}"
        if settings.telegram_webhook_url
        else "long polling"
    )
    announce(f"Telegram bot on {settings.telegram_api_url} ({mode})")
    return bot.stop
