"""The FastAGI server: `agi://HOST:4573/authorize` and `agi://HOST:4573/settle`.

Built on panoramisk's FastAGI `Application` (its route table, `Request` and
`Request.send_command`), with the session handling made robust: panoramisk's own handler
spins forever on a client that closes before the end of its environment and lets
undecodable bytes escape, so this server reads the environment itself, with a time limit,
a line limit and strict `agi_name: value` lines, and closes any session that is not AGI.

asyncio serves the connections; the database work runs in a pool of daemon threads over
one `Database` (one connection pool, one TariffCache) for the whole server, so many calls
are decided at once and a hung database can neither block the event loop nor keep the
process from exiting. Every answer reaches Asterisk within PULSA_AGI_TIMEOUT_MS.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import signal
import threading
import time
from collections.abc import Callable, Coroutine, Mapping
from concurrent.futures import Future
from typing import TypeVar

from panoramisk.fast_agi import Application, Request

from agi.authorize import (
    SETTLED,
    AgiCall,
    AgiError,
    Attempt,
    CallAuthorizer,
    Decision,
    Settlement,
    database_url,
    describe,
    elapsed_ms,
)
from pulsa.notices import watch_money
from wallet.calls import ERROR, CallPolicy
from wallet.db import Database
from wallet.site_settings import REFRESH_SECONDS

log = logging.getLogger("pulsa.agi")
T = TypeVar("T")

MAX_ENVIRONMENT_LINES = 200
ENVIRONMENT_TIMEOUT_S = 10.0  # Asterisk sends its environment at once; a silent client goes
COMMAND_TIMEOUT_S = 10.0  # Asterisk answers SET/GET VARIABLE at once
# Database threads per process. More is slower, not faster: the threads share one GIL with
# the event loop, and on a 2-core machine 16 threads decided 10 to 20 % fewer calls a
# second than 6 (bench/authorize.py). Fewer is not faster either: 3 decided 5 to 8 % fewer
# than 6 in alternating runs. Each has its own pooled connection.
DEFAULT_WORKERS = 6


class WorkerPool:
    """A fixed set of daemon threads running blocking work, returning futures."""

    def __init__(self, size: int, name: str = "pulsa-fastagi-db") -> None:
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._threads = [
            threading.Thread(target=self._work, name=f"{name}-{n}", daemon=True)
            for n in range(max(1, size))
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, work: Callable[[], object]) -> Future:
        future: Future = Future()
        self._jobs.put((future, work))
        return future

    def shutdown(self) -> None:
        """Let the threads end after the work already queued."""
        for _ in self._threads:
            self._jobs.put(None)

    def _work(self) -> None:
        while True:
            item = self._jobs.get()
            if item is None:
                return
            future, work = item
            if not future.set_running_or_notify_cancel():
                continue
            try:
                result = work()
            except BaseException as error:
                future.set_exception(error)
            else:
                future.set_result(result)


async def read_environment(reader: asyncio.StreamReader) -> dict[str, str]:
    """The `agi_name: value` lines up to the empty line; AgiError for anything else.

    Asterisk sends the whole environment at once, ending in an empty line: it is read in
    one piece up to that blank line (a fifth of the event loop's work per call when read
    line by line). A client that writes CRLF, or stops before the blank line, is cut by the
    environment timeout or when it closes."""
    try:
        data = await reader.readuntil(b"\n\n")
    except asyncio.IncompleteReadError as error:
        if error.partial.startswith(b"\n"):
            raise AgiError("an empty AGI environment") from None
        raise AgiError("the connection closed before the end of the AGI environment") from None
    except asyncio.LimitOverrunError:
        raise AgiError("an AGI environment over 64 KiB (or an endless line)") from None
    lines = data[:-2].decode("utf-8", "replace").split("\n")
    if len(lines) > MAX_ENVIRONMENT_LINES:
        raise AgiError(f"more than {MAX_ENVIRONMENT_LINES} lines of AGI environment")
    env: dict[str, str] = {}
    for line in lines:
        text = line.rstrip("\r")
        if not text:
            raise AgiError("an empty AGI environment")
        key, colon, value = text.partition(":")
        if not colon or not key.startswith("agi_") or not key.replace("_", "").isalnum():
            raise AgiError(f"not an AGI environment line: {text[:60]!r}")
        env[key] = value.strip()
    return env


def agi_arguments(env: Mapping[str, str]) -> list[str]:
    """agi_arg_1, agi_arg_2, ... in order."""
    arguments = []
    while f"agi_arg_{len(arguments) + 1}" in env:
        arguments.append(env[f"agi_arg_{len(arguments) + 1}"])
    return arguments


def route_name(script: str) -> str:
    """`authorize` from agi_network_script `authorize`, `/authorize` or `authorize?x=1`."""
    return script.strip().strip("/").split("?", 1)[0]


def quoted(value: str) -> str:
    if value and not any(c in value for c in ' "\\\t'):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


class _Application(Application):
    """panoramisk's route table, with the server's own session handler."""

    def __init__(self, server: FastAGIServer) -> None:
        super().__init__(default_encoding="utf-8", loop=asyncio.get_running_loop())
        self.server = server

    async def handler(self, reader, writer) -> None:
        await self.server.session(reader, writer)


class FastAGIServer:
    """One server: a listening socket, a worker pool, one Database, one CallAuthorizer."""

    def __init__(
        self,
        settings,
        database: Database | None = None,
        *,
        host: str | None = None,
        port: int | None = None,
        workers: int = DEFAULT_WORKERS,
        environment_timeout_s: float = ENVIRONMENT_TIMEOUT_S,
        command_timeout_s: float = COMMAND_TIMEOUT_S,
        settings_refresh_s: float = REFRESH_SECONDS,
        reuse_port: bool = False,
    ) -> None:
        self.settings = settings
        self.reuse_port = reuse_port
        self._owns_database = database is None
        if database is None:
            url = database_url(settings.database_url, settings.agi_timeout_ms)
            database = Database(url, pool_size=max(1, workers))
        self.database = database
        # A static call's settlement lowers a balance here (no AMI listener): its
        # low-balance notice commits with it, in this process as in any other.
        watch_money(database, settings)
        self.authorizer = CallAuthorizer(settings, database, refresh_seconds=settings_refresh_s)
        self.workers = WorkerPool(workers)
        self.host = settings.fastagi_host if host is None else host
        self.port = settings.fastagi_port if port is None else port
        self.timeout_s = settings.agi_timeout_ms / 1000
        self.environment_timeout_s = environment_timeout_s
        self.command_timeout_s = command_timeout_s
        self.address: tuple[str, int] | None = None
        self._app: _Application | None = None
        self._server: asyncio.Server | None = None
        self._sessions: set[asyncio.Task] = set()

    # --- life cycle ---------------------------------------------------------------------

    async def start(self) -> tuple[str, int]:
        """Listen; returns the address really bound (port 0 picks a free one)."""
        self._app = _Application(self)
        self._app.add_route("authorize", self.authorize)
        self._app.add_route("settle", self.settle)
        self._server = await asyncio.start_server(
            self._app.handler,
            self.host,
            self.port,
            reuse_address=True,
            # Worker processes (agi/workers.py) each listen on the same port; the kernel
            # spreads the connections between them.
            reuse_port=self.reuse_port or None,
        )
        host, port = self._server.sockets[0].getsockname()[:2]
        self.address = (host, port)
        return self.address

    async def stop(self, grace_s: float | None = None) -> None:
        """Stop listening, let the sessions in progress finish (at most `grace_s`, by
        default the AGI timeout plus a second), then close everything."""
        if self._server is not None:
            self._server.close()
        grace = self.timeout_s + 1.0 if grace_s is None else grace_s
        sessions = set(self._sessions)
        if sessions:
            _, pending = await asyncio.wait(sessions, timeout=grace)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=1.0)
        self.workers.shutdown()
        if self._owns_database:
            self.database.dispose()

    async def read_policy(self) -> CallPolicy:
        """The call policy with the admin's settings, read now to announce what applies;
        the environment's when the database does not answer (calls will say why)."""
        policies = self.authorizer.policies
        work = self.workers.submit(lambda: self.database.run(policies.get))
        try:
            return await asyncio.wait_for(asyncio.wrap_future(work), self.timeout_s)
        except Exception as error:
            log.warning("fastagi: cannot read the site settings yet: %s", describe(error))
            return policies.current

    # --- sessions -----------------------------------------------------------------------

    async def session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._sessions.add(task)
        peer = _peer(writer)
        try:
            env = await asyncio.wait_for(read_environment(reader), self.environment_timeout_s)
            name = route_name(env.get("agi_network_script", ""))
            route = self._app._route.get(name) if self._app is not None else None
            if route is None:
                log.error(
                    "fastagi: %s asked for %r; the routes are authorize and settle",
                    peer,
                    env.get("agi_network_script", ""),
                )
                return
            request = Request(app=self._app, headers=env, reader=reader, writer=writer)
            await route(request)
        except TimeoutError:
            log.warning(
                "fastagi: %s sent no complete AGI environment within %.0f s; closed",
                peer,
                self.environment_timeout_s,
            )
        except AgiError as error:
            log.warning("fastagi: %s: %s; closed", peer, error)
        except OSError as error:
            log.warning("fastagi: %s: connection lost (%s)", peer, error)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("fastagi: unexpected error in a session from %s", peer)
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
            if task is not None:
                self._sessions.discard(task)

    async def command(self, request: Request, command: str) -> dict:
        """Send one AGI command and return panoramisk's parsed reply; AgiError when
        Asterisk is gone, hung up, does not answer within command_timeout_s, or answers
        with something that is not AGI."""
        try:
            async with asyncio.timeout(self.command_timeout_s):
                return await self._exchange(request, command)
        except TimeoutError:
            raise AgiError(f"no reply to {command!r}") from None

    async def _exchange(self, request: Request, command: str) -> dict:
        try:
            reply = await request.send_command(command)
        except (OSError, ValueError, IndexError, asyncio.IncompleteReadError) as error:
            raise AgiError(f"connection lost at {command!r}") from error
        if reply.get("error") == "AGIResultHangup":
            raise AgiError(f"the channel hung up at {command!r}")
        return reply

    async def get_variable(self, request: Request, name: str) -> str | None:
        """A channel variable or function; None when unset or refused."""
        reply = await self.command(request, f"GET VARIABLE {name}")
        if reply.get("status_code") != 200 or "error" in reply:
            return None
        flag, value = reply.get("result", ("", ""))
        return value if flag == "1" else None

    async def set_variables(self, request: Request, variables: list[tuple[str, str]]) -> None:
        """SET VARIABLE for each (name, value) in order, all within command_timeout_s: one
        timer for the lot instead of one per command (Asterisk answers each at once)."""
        command = ""
        try:
            async with asyncio.timeout(self.command_timeout_s):
                for name, value in variables:
                    command = f"SET VARIABLE {name} {quoted(value)}"
                    reply = await self._exchange(request, command)
                    if reply.get("status_code") != 200 or "error" in reply:
                        raise AgiError(f"SET VARIABLE {name} refused: {reply.get('msg') or reply}")
        except TimeoutError:
            raise AgiError(f"no reply to {command!r}") from None

    # --- routes -------------------------------------------------------------------------

    async def authorize(self, request: Request) -> None:
        """AGI(agi://host/authorize[,NUMBER[,ACCOUNTCODE]])."""
        started = time.perf_counter()
        env = request.headers
        linkedid = await self.get_variable(request, "CHANNEL(linkedid)")
        call = AgiCall.from_agi(env, agi_arguments(env), linkedid)
        decision = await self._decide(call, self.timeout_s - (time.perf_counter() - started))
        try:
            await self.set_variables(request, decision.variables(self.authorizer.precision))
        except (AgiError, asyncio.CancelledError) as error:
            note = f"not delivered ({error or 'server stopping'})"
            if decision.call_id is not None:
                release = self.workers.submit(lambda: self.authorizer.cancel(decision.call_id))
                if isinstance(error, AgiError):
                    note += await self._released(release, decision.call_id)
            self.authorizer.log_decision(call, decision, elapsed_ms(started), note)
            if isinstance(error, asyncio.CancelledError):
                raise
            return
        self.authorizer.log_decision(call, decision, elapsed_ms(started))

    async def settle(self, request: Request) -> None:
        """AGI(agi://host/settle[,PULSA_CALL,DIALSTATUS,ANSWEREDTIME]) from a hangup
        handler; what is not given as an argument is read from the channel."""
        env = request.headers
        args = agi_arguments(env)
        names = ("PULSA_CALL", "DIALSTATUS", "ANSWEREDTIME")
        values = []
        for position, name in enumerate(names):
            if position < len(args):
                values.append(args[position])
            else:
                values.append(await self.get_variable(request, name) or "")
        call_text, dialstatus, billsec = values
        uniqueid = env.get("agi_uniqueid", "")
        future = asyncio.wrap_future(
            self.workers.submit(
                lambda: self.authorizer.settle(call_text, dialstatus, billsec, uniqueid)
            )
        )
        done, _ = await asyncio.wait({future}, timeout=self.timeout_s)
        if not done:
            future.add_done_callback(_late_settlement(call_text, dialstatus, billsec, self))
            result = Settlement(
                ERROR,
                f"no answer from the database within {self.settings.agi_timeout_ms} ms "
                "(the settlement goes on in the background)",
            )
        else:
            try:
                result = future.result()
            except Exception as error:
                result = Settlement(ERROR, describe(error))
        self.authorizer.log_settlement(call_text, dialstatus, billsec, result)
        with contextlib.suppress(AgiError):
            await self.set_variables(request, [(SETTLED, result.status)])

    # --- helpers ------------------------------------------------------------------------

    async def _decide(self, call: AgiCall, budget_s: float) -> Decision:
        attempt = Attempt()
        future = asyncio.wrap_future(
            self.workers.submit(lambda: self.authorizer.authorize(call, attempt))
        )
        try:
            done, _ = await asyncio.wait({future}, timeout=max(budget_s, 0.0))
            if not done and attempt.abandon():
                future.add_done_callback(_consume)
                return Decision.error(
                    f"no answer from the database within {self.settings.agi_timeout_ms} ms",
                    call.dialled,
                )
            decision = await future
        except asyncio.CancelledError:
            if not attempt.abandon():  # delivered to nobody: undo when it arrives
                future.add_done_callback(self._undo_delivered)
            raise
        except Exception as error:
            return Decision.error(describe(error), call.dialled)
        return decision or Decision.error("abandoned", call.dialled)

    def _undo_delivered(self, future: asyncio.Future) -> None:
        if future.cancelled() or future.exception() is not None:
            return
        decision = future.result()
        if decision is not None and decision.call_id is not None:
            self.workers.submit(lambda: self.authorizer.cancel(decision.call_id))

    async def _released(self, release: Future, call_id: int) -> str:
        try:
            await asyncio.wait_for(asyncio.wrap_future(release), self.timeout_s)
        except TimeoutError:
            return (
                f"; call {call_id} not released yet (slow database), the hold stays until expired"
            )
        except Exception as error:
            return f"; call {call_id} not released: {describe(error)}; the hold stays until expired"
        return f"; call {call_id} released"


def _consume(future: asyncio.Future) -> None:
    """Retrieve the outcome of abandoned work so asyncio does not report it."""
    if not future.cancelled():
        future.exception()


def _late_settlement(call_text: str, dialstatus: str, billsec: str, server: FastAGIServer):
    def report(future: asyncio.Future) -> None:
        if future.cancelled():
            return
        error = future.exception()
        result = Settlement(ERROR, describe(error)) if error is not None else future.result()
        server.authorizer.log_settlement(call_text, dialstatus, billsec, result)

    return report


def _peer(writer: asyncio.StreamWriter) -> str:
    peer = writer.get_extra_info("peername")
    if isinstance(peer, tuple) and len(peer) >= 2:
        return f"{peer[0]}:{peer[1]}"
    return str(peer or "?")


async def serve(
    settings,
    *,
    host: str | None = None,
    port: int | None = None,
    announce: Callable[[str], None] | None = None,
) -> None:
    """Run a FastAGI server (or PULSA_AGI_WORKERS processes of it) until SIGTERM or
    SIGINT, then stop gracefully."""
    from agi.workers import make_server

    server = make_server(settings, host=host, port=port)
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    try:
        bound_host, bound_port = await server.start()
    except BaseException:
        await server.stop(grace_s=0)
        raise
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    policy = await server.read_policy()
    message = (
        f"pulsa fastagi on agi://{bound_host}:{bound_port}/authorize and /settle "
        f"({policy.mode} mode, {policy.slice_seconds} s slices{_processes(settings)}; "
        "Ctrl+C to stop)"
    )
    (announce or log.info)(message)
    try:
        await stopping.wait()
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
        log.info("pulsa fastagi stopping: finishing the calls in progress")
        await server.stop()
        log.info("pulsa fastagi stopped")


def _processes(settings) -> str:
    count = settings.fastagi_processes
    return f", {count} worker processes" if count > 1 else ""


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop's event loop where it is installed (a dependency on Linux and macOS), else
    asyncio's. The server's own asyncio side (AGI lines in and out, a task per call) is
    about a quarter of its CPU per authorization; on uvloop the whole server runs about 14 %
    fewer instructions per authorization (`bench/authorize.py --instructions`)."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def run_event_loop(main: Coroutine[object, object, T]) -> T:
    """asyncio.run on `new_event_loop()`: `pulsa fastagi` and each of its worker processes."""
    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        return runner.run(main)


def run(settings, **kwargs) -> None:
    """Blocking entry point for `pulsa fastagi`."""
    run_event_loop(serve(settings, **kwargs))
