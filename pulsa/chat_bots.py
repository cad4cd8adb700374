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


async def start_telegram_bot(
    settings: Settings, database: Database, announce: Callable[[str], None] = log.info
) -> Callable[[], Awaitable[None]] | None:
    """Start the Telegram bot when configured; returns what stops it (None: not started)."""
    if not settings.telegram_token:
        announce("Telegram bot off: PULSA_TELEGRAM_TOKEN is not set")
        return None
    from bots.telegram import TelegramBot

    bot = TelegramBot(database, settings)
    await bot.start()
    mode = (
        f"webhook {settings.telegram_webhook_url}"
        if settings.telegram_webhook_url
        else "long polling"
    )
    announce(f"Telegram bot on {settings.telegram_api_url} ({mode})")
    return bot.stop
