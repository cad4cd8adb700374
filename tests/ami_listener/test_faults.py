"""The listener when things fail, in real time with short slices: the AMI connection
dropped and restored, the database gone for some seconds, the listener killed with
SIGKILL at random moments and started again. Asterisk (simulated) enforces the limits
meanwhile, so calls end at the end of their current slice and nothing is spent that is
not held; everything is settled once the listener is back."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from ami_listener.clock import SystemClock
from tests.ami_listener.checks import check_invariants
from tests.ami_listener.harness import Scenario, make_caller, make_plan, run
from tests.ami_listener.pbx import CountingAmiServer, Pbx
from tests.ami_listener.proxy import TcpProxy
from tests.databases import create_database, drop_database
from wallet.calls import OK, CallPolicy
from wallet.db import Database
from wallet.migrate import upgrade
from wallet.models import Call

RATES = "prefix,price_per_minute,initial_block,increment\n1,60,1,1\n"


@pytest.fixture(scope="module")
def plan(db):
    return make_plan(db, RATES)


def test_the_ami_connection_dropped_and_restored(db, plan):
    """While the listener is cut off, one call ends and another is answered; after the
    reconnection it settles the first (estimated: its end was not seen, the admin sees
    it), resumes the second, and keeps the third one paid for."""

    async def body():
        clock = SystemClock()
        async with Scenario(db, clock=clock, slice_seconds=6, margin_s=3, cdr_wait_s=1) as s:
            s.start_ticker()
            account, number = make_caller(db, plan, 500)
            gone, kept = (
                await s.pbx.start_call(number, "1555"),
                await s.pbx.start_call(number, "1556"),
            )
            for call in (gone, kept):
                await s.pbx.answer(call)
            await s.quiet()
            await asyncio.sleep(1.0)
            await s.ami.refuse_connections()
            s.ami.drop_clients()
            await s.until(lambda: not s.listener.connected)
            await asyncio.sleep(0.5)
            await s.pbx.hangup(gone)  # nobody hears it
            late = await s.pbx.start_call(number, "1557")
            assert late.status == OK
            await s.pbx.answer(late)  # answered while nobody listens
            await asyncio.sleep(2.0)
            await s.ami.accept_connections()
            await s.until(lambda: s.listener.connected, timeout=10)
            await asyncio.sleep(6.0)  # past every first slice: only renewals keep them up
            assert kept.live and late.live
            for call in (kept, late):
                await s.pbx.hangup(call)
            await s.until(lambda: not s.listener.calls, timeout=10)
            records = check_invariants(db, [account], s.call_ids())
            assert records[gone.call_id].source == "estimated"
            assert 1 <= records[gone.call_id].billsec <= 6
            assert records[kept.call_id].source == "cdr" and records[kept.call_id].billsec > 6
            assert records[late.call_id].source == "cdr" and records[late.call_id].billsec > 6
            assert s.listener.stats.logins == 2 and s.listener.stats.resyncs == 2
            assert not s.pbx.violations

    run(body, timeout=60)


class DatabaseOutage:
    """Take the database away from the listener: through a proxy that is cut (PostgreSQL,
    MariaDB), or by holding SQLite's write lock."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.proxy: TcpProxy | None = None
        self.listener_db = db
        self._thread: threading.Thread | None = None

    async def start(self) -> Database:
        if self.db.dialect != "sqlite":
            self.proxy = await TcpProxy.for_url(self.db.url).start()
            self.listener_db = Database(self.proxy.url_through(self.db.url), pool_size=4)
        return self.listener_db

    def begin(self, seconds: float) -> None:
        if self.proxy is not None:
            self.proxy.cut()
            asyncio.get_running_loop().call_later(
                seconds, lambda: asyncio.ensure_future(self.proxy.restore())
            )
            return
        locked = threading.Event()
        path = self.db.engine.url.database

        def hold() -> None:
            connection = sqlite3.connect(path, isolation_level=None, timeout=30)
            connection.execute("BEGIN EXCLUSIVE")
            locked.set()
            time.sleep(seconds)
            connection.execute("ROLLBACK")
            connection.close()

        self._thread = threading.Thread(target=hold, daemon=True)
        self._thread.start()
        locked.wait(10)

    async def close(self) -> None:
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join, 30)
        if self.proxy is not None:
            await self.proxy.aclose()
            self.listener_db.dispose()


def test_the_database_unavailable_for_some_seconds(db, plan):
    async def body():
        outage = DatabaseOutage(db)
        listener_db = await outage.start()
        clock = SystemClock()
        try:
            async with Scenario(
                db,
                clock=clock,
                slice_seconds=5,
                margin_s=3,
                cdr_wait_s=1,
                database_for_listener=listener_db,
            ) as s:
                s.start_ticker()
                account, number = make_caller(db, plan, 500)
                cut, short = (
                    await s.pbx.start_call(number, "1555"),
                    await s.pbx.start_call(number, "1556"),
                )
                for call in (cut, short):
                    await s.pbx.answer(call)
                await s.quiet()
                await asyncio.sleep(1.0)
                outage.begin(4.0)  # until ~5 s after answer: the first slices run out
                await asyncio.sleep(1.0)
                await s.pbx.hangup(short)  # ends while the database is away
                await s.until(lambda: not cut.live, timeout=10)
                assert cut.cut and cut.billsec == 5  # ended with its first slice
                await s.until(lambda: not s.listener.calls, timeout=30)
                after = await s.pbx.start_call(number, "1557")  # business as usual
                await s.pbx.answer(after)
                await asyncio.sleep(7.0)
                assert after.live  # renewed
                await s.pbx.hangup(after)
                await s.until(lambda: not s.listener.calls, timeout=15)
                records = check_invariants(db, [account], s.call_ids())
                assert records[cut.call_id].billsec == 5 and records[cut.call_id].cost == 5_000_000
                assert records[short.call_id].source == "cdr"
                assert records[after.call_id].billsec >= 7
                if db.dialect != "sqlite":  # SQLite waits for its lock instead of failing
                    assert s.listener.stats.db_errors > 0
                assert not s.pbx.violations
        finally:
            await outage.close()

    run(body, timeout=90)


# --- SIGKILL ------------------------------------------------------------------------------
BACKEND_OF_DIALECT = {"sqlite": "sqlite", "postgresql": "postgresql", "mysql": "mariadb"}


class ListenerProcess:
    """`pulsa ami` in its own process, killed and started again by the test."""

    def __init__(self, url: str, ami: CountingAmiServer, server: str, logs: Path) -> None:
        self.env = {
            **os.environ,
            "PULSA_DATABASE_URL": url,
            "PULSA_AMI_SERVERS": f"{server}={ami.username}:{ami.secret}@{ami.host}:{ami.port}",
            "PULSA_CALL_SLICE_SECONDS": "6",
            "PULSA_AMI_RENEW_MARGIN_SECONDS": "3",
            "PULSA_AMI_CDR_WAIT_MS": "1000",
            "PULSA_AMI_RECONNECT_MAX_SECONDS": "1",
            "PULSA_AMI_DB_WORKERS": "4",
            "PULSA_LOG_LEVEL": "INFO",
        }
        self.logs = logs
        self.runs = 0
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.runs += 1
        log = open(self.logs / f"listener-{self.runs}.log", "wb")  # noqa: SIM115
        pulsa = Path(sys.executable).with_name("pulsa")
        self.process = subprocess.Popen(
            [str(pulsa), "ami", "--stats", "2"], env=self.env, stdout=log, stderr=log
        )
        log.close()

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(20)

    def output(self) -> str:
        return "\n".join(
            f"--- {path.name}\n{path.read_text(errors='replace')[-4000:]}"
            for path in sorted(self.logs.glob("listener-*.log"))
        )


def test_the_listener_killed_at_random_moments_and_started_again(db, tmp_path):
    rng = random.Random(int(os.environ.get("PULSA_TEST_SEED", "4")))
    backend = BACKEND_OF_DIALECT[db.dialect]
    url = create_database(backend, tmp_path, label="kill")
    upgrade(url)
    database = Database(url)

    async def body():
        plan = make_plan(database, RATES)
        account, number = make_caller(database, plan, 400)
        async with CountingAmiServer() as ami:
            server = f"kill-{rng.randrange(10**6)}"
            clock = SystemClock()
            pbx = Pbx(ami, clock, database, server=server, policy=CallPolicy(slice_seconds=6))
            listener = ListenerProcess(url, ami, server, tmp_path)

            async def ticker():
                while True:
                    await pbx.tick()
                    await asyncio.sleep(0.02)

            ticking = asyncio.ensure_future(ticker())
            listener.start()
            try:
                await ami.wait_for_clients(1, timeout=20)
                plans = [
                    (rng.uniform(0, 14), rng.uniform(2, 9), rng.uniform(3, 20)) for _ in range(8)
                ]
                kills = sorted(rng.uniform(1, 22) for _ in range(4))
                began = time.monotonic()
                calls = []
                pending = sorted(plans)
                while pending or any(c.live for c in pbx.calls):
                    now = time.monotonic() - began
                    while pending and pending[0][0] <= now:
                        _, ring, talk = pending.pop(0)
                        call = await pbx.start_call(number, f"1555{len(calls)}")
                        calls.append((call, now + ring, now + ring + talk))
                    for call, answer_at, hangup_at in calls:
                        if call.live and call.answered_at is None and now >= answer_at:
                            await pbx.answer(call)
                        elif call.live and call.answered_at is not None and now >= hangup_at:
                            await pbx.hangup(call)
                    if kills and now >= kills[0]:
                        kills.pop(0)
                        listener.kill()
                        await asyncio.sleep(rng.uniform(0.3, 3.0))
                        listener.start()
                    await asyncio.sleep(0.05)
                    assert now < 120, "calls did not end"

                def open_calls(session):
                    return session.execute(
                        select(func.count(Call.id)).where(
                            Call.status.in_(("authorized", "answered"))
                        )
                    ).scalar_one()

                deadline = time.monotonic() + 30
                while database.run(open_calls) and time.monotonic() < deadline:
                    await asyncio.sleep(0.2)
                assert listener.stop() == 0
                assert database.run(open_calls) == 0, listener.output()
                assert not pbx.violations, pbx.violations
                call_ids = [c.call_id for c, _, _ in calls if c.call_id is not None]
                assert len(call_ids) == 8
                records = check_invariants(database, [account], call_ids)
                assert records  # most calls end with a CDR, estimated or from Asterisk
                # While the listener was away, Asterisk ended calls at the end of the
                # slice they had: no call ever ran past what its hold paid for.
                with database.transaction() as session:
                    for call, _, _ in calls:
                        if call.answered_at is None:
                            continue
                        paid_ms = session.get(Call, call.call_id).paid_ms
                        assert call.billsec * 1000 <= paid_ms, (call.call_id, call.billsec)
            except BaseException:
                print(listener.output())
                raise
            finally:
                ticking.cancel()
                if listener.process is not None and listener.process.poll() is None:
                    listener.kill()

    try:
        run(body, timeout=240)
    finally:
        database.dispose()
        drop_database(url)
