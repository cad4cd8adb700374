"""Building blocks of the listener's tests: a tariff plan, a caller with a wallet, and a
scenario (loopback AMI server + simulated Asterisk + the listener, on a manual clock by
default) that can be stepped second by second."""

from __future__ import annotations

import asyncio
import itertools
import sys
import threading
import traceback
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from sqlalchemy import select, update

from ami_listener.clock import ManualClock
from ami_listener.config import AmiServer as AmiServerConfig
from ami_listener.config import ListenerConfig
from ami_listener.listener import Listener
from tests.ami_listener.pbx import CountingAmiServer, Pbx
from tests.conftest import make_account
from wallet.calls import CallPolicy, CallPolicyCache
from wallet.customers import add_identity
from wallet.db import Database
from wallet.models import Account, TariffPlan
from wallet.tariffs import add_band, ensure_plan, import_rates

UNIT = 1_000_000
START = datetime(2026, 11, 23, 5, 0, 0)  # a Monday, naive UTC as stored
_names = itertools.count(1)


def run(body: Callable[[], Awaitable[Any]], timeout: float = 120.0) -> Any:
    async def guarded() -> Any:
        return await asyncio.wait_for(body(), timeout)

    return asyncio.run(guarded())


def make_plan(
    db: Database,
    rates_csv: str,
    *,
    timezone: str = "UTC",
    bands: tuple[tuple[str, str, str, str], ...] = (),
) -> str:
    name = f"ami-{next(_names)}-{uuid.uuid4().hex[:6]}"

    def work(session) -> None:
        ensure_plan(session, name, timezone)
        for band in bands:
            add_band(session, name, *band)
        import_rates(session, name, rates_csv)

    db.run(work)
    return name


def make_caller(db: Database, plan: str, balance_units: float, number: str | None = None):
    """A wallet on `plan` with `balance_units` of credit, reached by caller ID `number`;
    returns (account_id, number)."""
    number = number or f"62811{uuid.uuid4().int % 10**8:08d}"
    account_id = make_account(db, int(balance_units * UNIT))

    def work(session) -> None:
        plan_id = session.execute(select(TariffPlan.id).where(TariffPlan.name == plan)).scalar_one()
        session.execute(
            update(Account).where(Account.id == account_id).values(tariff_plan_id=plan_id)
        )
        add_identity(session, account_id, "callerid", number)

    db.run(work)
    return account_id, number


class Scenario:
    """`async with Scenario(db) as s:` a listener following a simulated Asterisk."""

    def __init__(
        self,
        db: Database,
        *,
        clock: Any | None = None,
        tech: str = "PJSIP",
        slice_seconds: int = 60,
        safety_ms: int | None = None,
        margin_s: float = 10.0,
        cdr_wait_s: float = 3.0,
        recheck_s: float = 5.0,
        chanvars: tuple[str, ...] = ("PULSA_CALL", "PULSA_STATUS"),
        cdr_first: bool = False,
        send_cdr: bool = True,
        database_for_listener: Database | None = None,
        policies: CallPolicyCache | None = None,
        asterisk_version: str | None = "20.21.0",
        ami_version: str = "9.0.0",
        pbx_options: dict[str, Any] | None = None,
        **listener_options: Any,
    ) -> None:
        self.db = db
        self.policies = policies
        self.clock = clock if clock is not None else ManualClock(START)
        self.server = f"sim-{uuid.uuid4().hex[:10]}"
        self.policy = CallPolicy(slice_seconds=slice_seconds)
        self.tech = tech
        self.chanvars = chanvars
        self.cdr_first = cdr_first
        self.send_cdr = send_cdr
        self.listener_db = database_for_listener or db
        self.pbx_options = pbx_options or {}
        self.versions = {"asterisk_version": asterisk_version, "version": ami_version}
        self.options = {
            "safety_ms": safety_ms,
            "renew_margin_s": margin_s,
            "cdr_wait_s": cdr_wait_s,
            "recheck_s": recheck_s,
            **listener_options,
        }
        self._ticker: asyncio.Task[Any] | None = None
        self.ami: CountingAmiServer
        self.pbx: Pbx
        self.listener: Listener

    def config(self, **overrides: Any) -> ListenerConfig:
        server = AmiServerConfig(
            self.server, self.ami.host, self.ami.port, self.ami.username, self.ami.secret
        )
        values: dict[str, Any] = {
            "servers": (server,),
            "action_timeout_s": 2.0,
            "ping_interval_s": 30.0,
            "reconnect_min_s": 0.05,
            "reconnect_max_s": 0.5,
            "db_workers": 4,
            "db_retry_max_s": 0.5,
            "claim_unnamed": False,
            **{k: v for k, v in self.options.items() if v is not None},  # None: the default
            **overrides,
        }
        return ListenerConfig(**values)

    async def __aenter__(self) -> Scenario:
        self.ami = CountingAmiServer(**self.versions)
        await self.ami.start_serving()
        self.pbx = Pbx(
            self.ami,
            self.clock,
            self.db,
            server=self.server,
            policy=self.policy,
            tech=self.tech,
            chanvars=self.chanvars,
            cdr_first=self.cdr_first,
            send_cdr=self.send_cdr,
        )
        for name, value in self.pbx_options.items():
            setattr(self.pbx, name, value)
        self.listener = Listener(
            self.config(),
            self.listener_db,
            self.policy,
            clock=self.clock,
            policies=self.policies,
        )
        await self.listener.start()
        await self.until(lambda: self.listener.connected)
        await self.quiet()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
        await self.listener.stop()
        await self.ami.aclose()

    def start_ticker(self, every_s: float = 0.02) -> None:
        """Real time: let the simulated Asterisk cut calls whose limit has come."""

        async def tick() -> None:
            while True:
                await self.pbx.tick()
                await asyncio.sleep(every_s)

        self._ticker = asyncio.ensure_future(tick())

    async def until(self, predicate: Callable[[], object], timeout: float = 15.0) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not predicate():
            if loop.time() > deadline:
                raise TimeoutError(f"timed out waiting for {predicate}")
            await asyncio.sleep(0.005)

    async def quiet(self, timeout: float = 60.0) -> None:
        """Until the listener has read every event sent and has nothing left to do now.
        (The timeout only bounds a stuck listener: a burst of 40 calls on PostgreSQL took
        more than 15 s to settle on a machine at load 10, and failed CI for nothing.)"""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        calm = 0
        while calm < 3:
            await asyncio.sleep(0.003)
            done = self.listener.stats.events >= self.ami.delivered and self.listener.idle()
            calm = calm + 1 if done else 0
            if loop.time() > deadline:
                raise TimeoutError(
                    f"listener not quiet: {self.listener.stats.events} of "
                    f"{self.ami.delivered} events, idle={self.listener.idle()}\n" + self.state()
                )

    def state(self) -> str:
        """What the listener is doing, and where its database threads are (diagnosis)."""
        lines = [f"working={self.listener._working} calls:"]
        for link in self.listener.links.values():
            for call in link.calls():
                lines.append(
                    f"  {call!r} answered={call.answered} recorded={call.answer_recorded} "
                    f"settled={call.settled} waiting={call.waiting} wake={call.wake.is_set()} "
                    f"sleeper={'done' if call.sleeper and call.sleeper.done() else call.sleeper} "
                    f"task={call.task}"
                )
        for thread in threading.enumerate():
            frame = sys._current_frames().get(thread.ident or 0)
            if frame is not None and thread.name.startswith("pulsa"):
                stack = "".join(traceback.format_stack(frame, limit=6))
                lines.append(f"thread {thread.name}:\n{stack}")
        return "\n".join(lines)

    async def step(self, seconds: float = 1.0) -> None:
        """Let time pass: the listener renews what is due, Asterisk cuts what ran out."""
        self.clock.advance(seconds)
        await self.pbx.tick()  # Asterisk cuts at the limit, before anything else happens
        await self.quiet()
        if await self.pbx.tick():
            await self.quiet()

    async def run_until_over(self, limit_s: int = 3600, step_s: float = 1.0) -> None:
        """Step until every call has ended and the listener settled them all."""
        for _ in range(int(limit_s / step_s)):
            if not self.pbx.live_calls() and not self.listener.calls:
                return
            await self.step(step_s)
        raise AssertionError(f"calls still up after {limit_s} s: {self.pbx.live_calls()}")

    def call_ids(self) -> list[int]:
        return [c.call_id for c in self.pbx.calls if c.call_id is not None]
