"""`pulsa bot`: the chat side of pulsa alone (the Telegram bot, and the outbox worker that
delivers notices to Telegram and LINE chats), for sites that run it apart from `pulsa
serve`. (LINE's webhook is served by the portal's web server, or here with --line-port.)"""

from __future__ import annotations

import asyncio
import signal

import click

from pulsa.cli import Context, UserError, pass_context


@click.command("bot")
@click.option(
    "--line-port",
    type=int,
    help="Also serve the LINE webhook (/line/webhook) on this port, for a site whose "
    "customer portal does not run here (the portal's server serves it otherwise).",
)
@click.option("--line-host", default="127.0.0.1", show_default=True, help="Address of --line-port.")
@pass_context
def bot(ctx: Context, line_port: int | None, line_host: str) -> None:
    """Run the Telegram bot (when PULSA_TELEGRAM_TOKEN is set) and deliver the notices of
    the outbox to the linked chats until Ctrl+C (nothing to do when no chat platform is
    configured)."""
    from bots.delivery import run_worker, senders_from
    from pulsa.chat_bots import shared_paces, start_telegram_bot

    settings = ctx.settings
    if line_port is not None and not settings.line_configured:
        raise UserError(
            "--line-port: LINE is not configured (PULSA_LINE_CHANNEL_SECRET and "
            "PULSA_LINE_ACCESS_TOKEN)"
        )
    platforms = [sender.platform for sender in senders_from(settings)]
    if not platforms:
        click.echo(
            "no chat platform configured (PULSA_TELEGRAM_TOKEN, or PULSA_LINE_CHANNEL_SECRET "
            "and PULSA_LINE_ACCESS_TOKEN): nothing to run"
        )
        return
    database = ctx.database()
    click.echo(f"delivering chat notices to {', '.join(platforms)} (Ctrl+C to stop)")
    webhooks = None
    if line_port is not None:
        from pulsa.web_server import start_chat_webhooks_server

        webhooks = start_chat_webhooks_server(settings, database, host=line_host, port=line_port)
        server = webhooks[0]
        click.echo(
            f"LINE webhook on http://{server.effective_host}:{server.effective_port}/line/webhook"
        )

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        # The bot's replies and the notices share Telegram's limits.
        paces = shared_paces(settings)
        telegram = await start_telegram_bot(settings, database, click.echo, paces=paces)
        try:
            await run_worker(database, settings, stop, paces=paces)
        finally:
            if telegram is not None:
                await telegram()

    try:
        asyncio.run(main())
    finally:
        if webhooks is not None:
            server, stops = webhooks
            server.close()
            for stop in stops:
                stop()


commands = [bot]
