"""`pulsa bot`: the chat side of pulsa alone (the Telegram bot, and the outbox worker that
delivers notices to Telegram and LINE chats), for sites that run it apart from `pulsa
serve`. (LINE's webhook is served by the portal's web server.)"""

from __future__ import annotations

import asyncio
import signal

import click

from pulsa.cli import Context, pass_context


@click.command("bot")
@pass_context
def bot(ctx: Context) -> None:
    """Run the Telegram bot (when PULSA_TELEGRAM_TOKEN is set) and deliver the notices of
    the outbox to the linked chats until Ctrl+C (nothing to do when no chat platform is
    configured)."""
    from bots.delivery import run_worker, senders_from
    from pulsa.chat_bots import start_telegram_bot

    settings = ctx.settings
    platforms = [sender.platform for sender in senders_from(settings)]
    if not platforms:
        click.echo(
            "no chat platform configured (PULSA_TELEGRAM_TOKEN, or PULSA_LINE_CHANNEL_SECRET "
            "and PULSA_LINE_ACCESS_TOKEN): nothing to run"
        )
        return
    database = ctx.database()
    click.echo(f"delivering chat notices to {', '.join(platforms)} (Ctrl+C to stop)")

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        telegram = await start_telegram_bot(settings, database, click.echo)
        try:
            await run_worker(database, settings, stop)
        finally:
            if telegram is not None:
                await telegram()

    asyncio.run(main())


commands = [bot]
