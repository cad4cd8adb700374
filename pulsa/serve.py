"""`pulsa serve`: every part of pulsa in one process, for small sites.

The web admin and the customer portal (waitress, each on its own address, in their own
threads), the FastAGI server, the AMI listener (when
AMI servers are configured), the hotspot reconciler (when a router key is set) and the
housekeeping that expires abandoned call holds. Larger sites run each alone instead
(`pulsa web`, `pulsa portal`, `pulsa fastagi`, `pulsa ami`, `pulsa hotspot sync`) against
one database.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from pulsa.settings import Settings
from wallet.db import Database

if TYPE_CHECKING:
    from wallet.calls import CallPolicy

log = logging.getLogger("pulsa.serve")

HOUSEKEEPING_SECONDS = 60.0


async def serve_everything(
    settings: Settings,
    database: Database,
    *,
    web_host: str | None = None,
    web_port: int | None = None,
    portal_host: str | None = None,
    portal_port: int | None = None,
    announce: Callable[[str], None] = log.info,
    sign_in: str | None = None,
) -> None:
    """Run every service until SIGTERM or SIGINT, then stop them in reverse order.

    The start messages end with the web admin's address and `sign_in` (how to sign in),
    so that what a person needs first is the last thing on the screen."""
    from agi.workers import make_server
    from portal import create_app as create_portal
    from pulsa.web_server import with_chat_webhooks
    from webadmin import create_app

    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    stops: list[Callable[[], object]] = []
    try:
        web = _start_web(create_app(settings, database), settings, web_host, web_port)
        stops.append(web.close)
        address = f"http://{web.effective_host}:{web.effective_port}/"
        announce(f"web admin on {address}")
        portal_app, webhook_stops = with_chat_webhooks(
            create_portal(settings, database), settings, database
        )
        stops.extend(webhook_stops)
        portal = _start_web(
            portal_app,
            settings,
            portal_host or settings.portal_host,
            settings.portal_port if portal_port is None else portal_port,
            name="pulsa-portal",
        )
        stops.append(portal.close)
        portal_address = f"http://{portal.effective_host}:{portal.effective_port}/"
        announce(f"customer portal on {portal_address}")
        if settings.line_configured:
            announce(f"LINE webhook at {settings.portal_address}/line/webhook")
        if settings.trusted_proxies:
            proxies = ", ".join(sorted(settings.trusted_proxies))
            announce(f"web admin and portal trust X-Forwarded-* from {proxies}")

        fastagi = make_server(settings, database)
        host, port = await fastagi.start()
        stops.append(fastagi.stop)
        policy, mode_saved = await asyncio.to_thread(call_policy_at_start, settings, database)
        processes = settings.fastagi_processes
        extra = f", {processes} worker processes" if processes > 1 else ""
        # Slices are a live-mode thing: a static call holds all it may last at once.
        slices = f", {policy.slice_seconds} s slices" if policy.mode == "live" else ""
        announce(f"FastAGI on agi://{host}:{port}/authorize ({policy.mode} mode{slices}{extra})")

        listener = await _start_listener(settings, database, announce, policy.mode, mode_saved)
        if listener is not None:
            stops.append(listener.stop)

        finished = threading.Event()
        stops.append(finished.set)
        if settings.router_key:
            _start_hotspot(settings, database, finished)
            announce(f"hotspot sync every {settings.hotspot_sync_seconds} s")
        else:
            announce("hotspot sync off: PULSA_ROUTER_KEY is not set")
        from pulsa.chat_bots import shared_paces, start_telegram_bot

        # The bot's replies and the notices share Telegram's limits.
        paces = shared_paces(settings)
        delivery = _start_delivery(settings, database, announce, paces)
        if delivery is not None:
            stops.append(delivery)
        telegram = await start_telegram_bot(settings, database, announce, paces=paces)
        if telegram is not None:
            stops.append(telegram)
        housekeeping = asyncio.ensure_future(_housekeeping(database))
        stops.append(housekeeping.cancel)
        announce("pulsa is running (Ctrl+C to stop)")
        announce("")
        announce(f"    web admin:       {address}")
        announce(f"    customer portal: {portal_address}")
        if sign_in:
            announce(f"    {sign_in}")
        announce("")
        await stopping.wait()
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
        log.info("pulsa stopping")
        for stop in reversed(stops):
            result = stop()
            if asyncio.iscoroutine(result):
                await result
        log.info("pulsa stopped")


def _start_delivery(settings: Settings, database: Database, announce, paces=None):
    """The outbox worker, when a chat platform is configured; returns its stop. `paces`:
    the rate limits it shares with the bots' replies."""
    from bots.delivery import run_worker, senders_from

    platforms = [sender.platform for sender in senders_from(settings)]
    if not platforms:
        announce("chat notices off: no chat platform configured")
        return None
    stop = asyncio.Event()
    task = asyncio.ensure_future(run_worker(database, settings, stop, paces=paces))
    announce(f"chat notices delivered to {', '.join(platforms)}")

    async def stop_delivery() -> None:
        stop.set()  # claims nothing more; the requests in flight finish
        await task

    return stop_delivery


def _start_web(
    app, settings: Settings, host: str | None, port: int | None, *, name: str = "pulsa-web"
):
    from pulsa.web_server import start_web_server

    return start_web_server(
        app,
        settings,
        host=host or settings.web_host,
        port=settings.web_port if port is None else port,
        name=name,
    )


def call_policy_at_start(settings: Settings, database: Database) -> tuple[CallPolicy, bool]:
    """The call policy that applies now (the admin's saved slice and mode applied), and
    whether the mode was saved in the web admin (where it wins over PULSA_CALL_MODE).
    Read once, to tell the operator at start; the environment's when the database cannot
    say (not migrated yet, unreachable: calls will say why)."""
    from sqlalchemy.exc import SQLAlchemyError

    from wallet.calls import CallPolicy
    from wallet.site_settings import effective_settings, stored_keys

    try:
        with database.transaction() as session:
            effective = effective_settings(session, settings)
            return CallPolicy.from_settings(effective), "call_mode" in stored_keys(session)
    except (SQLAlchemyError, ValueError) as error:
        # ValueError: a stored value the settings refuse (edited by hand).
        log.warning(
            "site settings not read at start, the environment's call settings apply: %s",
            getattr(error, "orig", None) or error,
        )
        return CallPolicy.from_settings(settings), False


async def _start_listener(settings: Settings, database: Database, announce, mode: str, saved: bool):
    if not settings.ami_servers.strip():
        if mode == "live":
            where = (
                "set the call mode to static on the web admin's Settings screen"
                if saved
                else "use PULSA_CALL_MODE=static"
            )
            announce(
                "AMI listener off: PULSA_AMI_SERVERS is not set, so live calls end at the end "
                f"of their first slice ({where} without a listener)"
            )
        else:
            announce(
                "AMI listener off (PULSA_AMI_SERVERS is not set): calls in static mode, "
                "sent to [pulsa-outbound-static] in the dialplan"
            )
        return None
    from ami_listener.config import ListenerConfig
    from ami_listener.listener import Listener
    from wallet.calls import CallPolicy, CallPolicyCache

    config = ListenerConfig.from_settings(settings)
    listener = Listener(
        config,
        database,
        CallPolicy.from_settings(settings),
        policies=CallPolicyCache(settings),
    )
    await listener.start()
    announce("AMI listener on " + ", ".join(f"{s.name} ({s.address})" for s in config.servers))
    return listener


def _start_hotspot(settings: Settings, database: Database, finished: threading.Event) -> None:
    from hotspot.credentials import RouterKeyring
    from hotspot.reconciler import HotspotScheduler

    scheduler = HotspotScheduler(
        database, RouterKeyring(settings.router_key), interval=settings.hotspot_sync_seconds
    )
    threading.Thread(
        target=scheduler.run_forever, args=(finished,), name="pulsa-hotspot", daemon=True
    ).start()


async def _housekeeping(database: Database) -> None:
    """Release the holds of calls nobody settled in time (they are never charged), and
    delete ended web sessions, sign-in counts nobody added to for a day, and the records
    of chat updates handled long ago (messaging.chats.forget_old_chat_updates)."""
    from wallet.calls import expire_calls

    while True:
        try:
            expired = await asyncio.to_thread(database.run, expire_calls)
            if expired:
                log.warning("expired %d call(s) nobody settled: %s", len(expired), expired)
            await asyncio.to_thread(database.run, forget_old_sign_ins)
            await asyncio.to_thread(database.run, forget_old_chat_updates)
        except Exception:  # the loop must survive a database outage
            log.exception("housekeeping pass failed; trying again later")
        await asyncio.sleep(HOUSEKEEPING_SECONDS)


def forget_old_chat_updates(session) -> None:
    from messaging.chats import forget_old_chat_updates as forget

    forget(session)


def forget_old_sign_ins(session) -> None:
    from wallet.sign_in_throttle import forget_old
    from wallet.web_sessions import end_expired_sessions

    end_expired_sessions(session)
    forget_old(session)
