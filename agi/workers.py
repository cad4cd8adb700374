"""Several FastAGI worker processes on one port (PULSA_AGI_WORKERS).

One FastAGI process decides calls on one core at most: its event loop and its database
threads share one interpreter lock. With PULSA_AGI_WORKERS above 1, `pulsa fastagi` and
`pulsa serve` run that many worker processes instead, each a complete `FastAGIServer` with
its own database engine and connection pool, all listening on the same port with
SO_REUSEPORT, so that the kernel spreads the new connections between them.

The parent only supervises. It reserves the port (a socket bound with SO_REUSEPORT that
never listens, so port 0 picks one port for all workers and a port held by another program
is refused at once), starts the workers and waits until each listens, starts a new one when
one dies (logged, with a growing delay when it keeps dying at once), and on SIGTERM or
SIGINT passes SIGTERM on to every worker, each of which finishes its calls in progress as
a single server does.

Workers are started with multiprocessing's "spawn" method: each is a fresh interpreter, so
no database connection, lock or thread of the parent is inherited (`pulsa serve` starts
them from a process that already runs threads and holds a connection pool).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import signal
import socket
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess

log = logging.getLogger("pulsa.agi.workers")

WORKER_LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s[%(process)d]: %(message)s"
START_TIMEOUT_S = 60.0  # a worker imports pulsa and listens; far less than this
FIRST_RESTART_DELAY_S = 0.1
LONGEST_RESTART_DELAY_S = 30.0
STABLE_AFTER_S = 10.0  # a worker that lived this long and died is restarted at once
PARENT_CHECK_S = 1.0


class WorkerStartError(RuntimeError):
    """A worker process could not start listening."""


def make_server(settings, database=None, *, host: str | None = None, port: int | None = None):
    """A FastAGIServer in this process (PULSA_AGI_WORKERS=1, over `database` when given),
    or FastAGIWorkers when several processes are configured (each opens its own database).
    Both have `start() -> (host, port)` and `stop()`."""
    if settings.fastagi_processes > 1:
        return FastAGIWorkers(settings, host=host, port=port)
    from agi.fastagi import FastAGIServer

    return FastAGIServer(settings, database, host=host, port=port)


@dataclass
class _Worker:
    index: int
    process: BaseProcess
    started: float
    ready: Connection  # the worker says "ready" (or why not) here once it listens


class FastAGIWorkers:
    """Worker processes serving FastAGI on one port, and their supervision."""

    def __init__(
        self,
        settings,
        *,
        host: str | None = None,
        port: int | None = None,
        count: int | None = None,
    ) -> None:
        self.settings = settings
        self.host = settings.fastagi_host if host is None else host
        self.port = settings.fastagi_port if port is None else port
        self.count = settings.fastagi_processes if count is None else count
        self.timeout_s = settings.agi_timeout_ms / 1000
        self.address: tuple[str, int] | None = None
        self._context = multiprocessing.get_context("spawn")
        self._reserved: socket.socket | None = None
        self._workers: list[_Worker] = []
        self._keepers: list[asyncio.Task] = []
        self._stopping = False

    @property
    def pids(self) -> list[int]:
        """The process ids of the workers alive now."""
        return [w.process.pid for w in self._workers if w.process.exitcode is None]

    # --- life cycle ---------------------------------------------------------------------

    async def start(self) -> tuple[str, int]:
        """Reserve the port, start every worker and wait until each listens; returns the
        address (port 0 picks a free one)."""
        self._reserved = _reserve(self.host, self.port)
        host, port = self._reserved.getsockname()[:2]
        self.address = (host, port)
        try:
            self._workers = [self._spawn(index) for index in range(self.count)]
            for worker in self._workers:
                error = await self._ready(worker)
                if error:
                    raise WorkerStartError(f"fastagi worker {worker.index} did not start: {error}")
                log.info("fastagi worker %d (pid %d) listening", worker.index, worker.process.pid)
        except BaseException:
            await self.stop(grace_s=0)
            raise
        self._keepers = [
            asyncio.ensure_future(self._keep(worker.index)) for worker in self._workers
        ]
        return self.address

    async def read_policy(self):
        """The call policy in effect (admin-saved slice and mode applied), read once over
        a short-lived connection to announce it (the workers read it themselves); the
        environment's when the database does not answer."""
        from wallet.calls import CallPolicyCache
        from wallet.db import Database

        policies = CallPolicyCache(self.settings)

        def read():
            database = Database(self.settings.database_url, pool_size=1)
            try:
                return database.run(policies.get)
            finally:
                database.dispose()

        try:
            return await asyncio.wait_for(asyncio.to_thread(read), 10)
        except Exception as error:
            log.warning("fastagi: cannot read the site settings yet: %s", error)
            return policies.current

    async def stop(self, grace_s: float | None = None) -> None:
        """Ask every worker to stop (SIGTERM: it finishes the sessions in progress, at
        most `grace_s`, by default the AGI timeout plus a second) and wait for them."""
        self._stopping = True
        for keeper in self._keepers:
            keeper.cancel()
        # Let them end first: each watches its worker's sentinel with the event loop, and
        # one fd has one reader, so they would take over the watching done below.
        await asyncio.gather(*self._keepers, return_exceptions=True)
        grace = self.timeout_s + 1.0 if grace_s is None else grace_s
        for worker in self._workers:
            if worker.process.exitcode is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(worker.process.pid, signal.SIGTERM)
        # A worker needs the grace time plus its own clean-up (a second or two).
        deadline = time.monotonic() + grace + 5.0
        for worker in self._workers:
            await _exited(worker.process, max(0.0, deadline - time.monotonic()))
            if worker.process.exitcode is None:
                log.error("fastagi worker %d did not stop in time; killed", worker.index)
                worker.process.kill()
                await _exited(worker.process, 5.0)
        if self._reserved is not None:
            self._reserved.close()
            self._reserved = None

    # --- workers ------------------------------------------------------------------------

    def _spawn(self, index: int) -> _Worker:
        receiving, sending = self._context.Pipe(duplex=False)
        host, port = self.address if self.address is not None else (self.host, self.port)
        process = self._context.Process(
            target=worker_main,
            args=(self.settings, host, port, sending, os.getpid(), _log_level()),
            name=f"pulsa-fastagi-{index}",
            # Terminated by multiprocessing if this process exits without stopping them.
            daemon=True,
        )
        process.start()
        sending.close()  # the worker holds the other copy: its exit reads as EOF here
        return _Worker(index, process, time.monotonic(), receiving)

    async def _ready(self, worker: _Worker) -> str:
        """ "" when the worker listens, else why not (it is then stopped)."""
        connection = worker.ready
        try:
            if not await _readable(connection, START_TIMEOUT_S):
                worker.process.kill()
                return f"not listening after {START_TIMEOUT_S:.0f} s"
            try:
                message = connection.recv()
            except EOFError:
                await _exited(worker.process, 5.0)
                return f"it {_how(worker.process.exitcode)} before listening"
            return "" if message == "ready" else str(message)
        finally:
            connection.close()

    async def _keep(self, index: int) -> None:
        """Start a new worker in slot `index` whenever the one there dies."""
        failures = 0
        while True:
            worker = self._workers[index]
            await _exited(worker.process, None)
            if self._stopping:
                return
            quick = time.monotonic() - worker.started < STABLE_AFTER_S
            failures = failures + 1 if quick else 1
            delay = min(FIRST_RESTART_DELAY_S * 2 ** (failures - 1), LONGEST_RESTART_DELAY_S)
            log.error(
                "fastagi worker %d (pid %d) %s; starting another in %.1f s",
                index,
                worker.process.pid,
                _how(worker.process.exitcode),
                delay,
            )
            await asyncio.sleep(delay)
            if self._stopping:
                return
            worker = self._workers[index] = self._spawn(index)
            error = await self._ready(worker)
            if error:
                log.error("fastagi worker %d did not start: %s", index, error)
            else:
                log.info(
                    "fastagi worker %d (pid %d) listening, restarted",
                    index,
                    worker.process.pid,
                )


def worker_main(
    settings, host: str, port: int, ready: Connection, parent_pid: int, level: int
) -> None:
    """The body of one worker process (the target multiprocessing runs)."""
    # Ctrl+C reaches the whole process group: the parent passes it on as SIGTERM, in order.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.basicConfig(level=logging.WARNING, format=WORKER_LOG_FORMAT)
    logging.getLogger("pulsa").setLevel(level)
    try:
        from agi.fastagi import run_event_loop

        run_event_loop(_serve_worker(settings, host, port, ready, parent_pid))
    except WorkerStartError:
        raise SystemExit(1) from None


async def _serve_worker(settings, host: str, port: int, ready: Connection, parent_pid: int) -> None:
    from agi.authorize import describe
    from agi.fastagi import FastAGIServer

    # The engine is created here, in the worker: a pool is never shared between processes.
    server = FastAGIServer(settings, host=host, port=port, reuse_port=True)
    try:
        await server.start()
    except Exception as error:
        await server.stop(grace_s=0)
        ready.send(describe(error))
        raise WorkerStartError from error
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    # Before "ready": from then on the parent may send SIGTERM at any moment.
    loop.add_signal_handler(signal.SIGTERM, stopping.set)
    ready.send("ready")
    ready.close()
    orphaned = asyncio.ensure_future(_parent_gone(parent_pid, stopping))
    try:
        await stopping.wait()
    finally:
        orphaned.cancel()
        loop.remove_signal_handler(signal.SIGTERM)
        await server.stop()


async def _parent_gone(parent_pid: int, stopping: asyncio.Event) -> None:
    """Stop when the parent is gone (killed with SIGKILL, say), instead of serving on
    unsupervised."""
    while os.getppid() == parent_pid:
        await asyncio.sleep(PARENT_CHECK_S)
    log.warning("fastagi worker: the supervising process is gone; stopping")
    stopping.set()


def _reserve(host: str, port: int) -> socket.socket:
    """A socket bound to the address with SO_REUSEPORT that never listens: it fixes the
    port for every worker and receives no connection itself."""
    family, kind, protocol, _, address = socket.getaddrinfo(
        host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    reserved = socket.socket(family, kind, protocol)
    try:
        reserved.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        reserved.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        reserved.bind(address)
    except BaseException:
        reserved.close()
        raise
    return reserved


async def _readable(connection: Connection, timeout: float) -> bool:
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    loop.add_reader(connection.fileno(), lambda: done.done() or done.set_result(True))
    try:
        await asyncio.wait_for(done, timeout)
        return True
    except TimeoutError:
        return False
    finally:
        loop.remove_reader(connection.fileno())


async def _exited(process: BaseProcess, timeout: float | None) -> None:
    """Wait (without blocking the loop) until `process` has ended, at most `timeout`."""
    if process.exitcode is not None:
        return
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    loop.add_reader(process.sentinel, lambda: done.done() or done.set_result(True))
    try:
        await asyncio.wait_for(done, timeout)
    except TimeoutError:
        return
    finally:
        loop.remove_reader(process.sentinel)
    process.join(1.0)


def _how(exitcode: int | None) -> str:
    if exitcode is None:
        return "is still running"
    if exitcode < 0:
        try:
            return f"was killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"was killed by signal {-exitcode}"
    return f"exited with code {exitcode}"


def _log_level() -> int:
    return logging.getLogger("pulsa").getEffectiveLevel()
