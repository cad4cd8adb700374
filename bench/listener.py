"""The AMI listener under load, on PostgreSQL.

    python bench/listener.py [--rate 100] [--seconds 60] [--talk 22]
                             [--fast-rate 300] [--fast-seconds 20] [--fast-talk 7]
                             [--wallet-calls 50]
                             [--skip load,fast,seed,burst,wallet,baseline]

Creates its own PostgreSQL database (dropped at the end; server from PULSA_BENCH_PG or
PULSA_TEST_PG, default postgresql+psycopg://postgres@127.0.0.1:5432), migrates it, and
runs `pulsa ami` as a separate process against a loopback AMI server in this process
that generates realistic traffic: per call a caller channel, the AGI's variables, Dial,
the called channel, answer, bridge, hangup and the Cdr (about 20 events, two channels),
with Asterisk's TIMEOUT(absolute) enforced.

  load    `--rate` call starts a second for `--seconds`, talk times exponential with mean
          `--talk` s (capped at 150 s), 60 s slices: about rate x talk calls up at once
          (2,000 by default). Calls are authorized beforehand as the AGI would (not timed:
          the listener is measured, not the AGI).
  fast    the same at `--fast-rate` starts a second: does the listener keep up?
  seed    the seed case: four calls about a second apart on ONE wallet with a credit of
          100 at 1 a second, 60 s slices, never hung up: how much of the 100 is used, and
          how far apart the four calls end.
  burst   forty calls started at once on ONE wallet with a credit of 100, 5 s slices: how
          many are let in, how much of the 100 is used, how far apart they end.
  wallet  `--wallet-calls` calls on ONE wallet, 5 s slices, credit for about a third of
          their length: nobody below zero, all cut together, debits a second.
  baseline  seed and burst again with the former defaults (PULSA_AMI_SAFETY_MS=1000,
          PULSA_AMI_LIMIT_PRECISION_MS=1000: a safety second and whole-second limits), the
          line the defaults are compared with.

The one-wallet phases run with the listener's defaults (limits to the millisecond, the
safety margin measured) unless said otherwise; each prints the credit used out of the
credit available and how far apart the calls ended, and a summary repeats them beside
the throughput figures.

Printed per phase: events a second handled (the listener's own counter), debits a second
(usage debited against holds while calls run), the delay from the Hangup/Cdr sent to the
settled CDR committed (p50/p99), the listener's CPU, and the targets: keeps up with 300
call starts a second; p99 settle delay under 1 s at 100 a second.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import math
import os
import platform
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

os.environ.setdefault(
    "PULSA_TEST_PG",
    os.environ.get("PULSA_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432"),
)

from sqlalchemy import func, select, text  # noqa: E402

from ami_listener.clock import SystemClock  # noqa: E402
from tests.ami_listener.harness import UNIT, make_caller, make_plan  # noqa: E402
from tests.ami_listener.pbx import CountingAmiServer, Pbx  # noqa: E402
from tests.databases import create_database, drop_database  # noqa: E402
from wallet.audit import audit  # noqa: E402
from wallet.calls import CallPolicy, TariffCache, authorize_call  # noqa: E402
from wallet.db import Database  # noqa: E402
from wallet.migrate import upgrade  # noqa: E402
from wallet.models import Account, Call, CallRecord, LedgerEntry  # noqa: E402

RATES = "prefix,price_per_minute,initial_block,increment\n1,60,1,1\n"
PULSA = Path(sys.executable).with_name("pulsa")
STATS = re.compile(r"^(\S+ \S+) .*stats events=(\d+) .*debits=(\d+) ")


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def process_cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(fraction * len(ordered)) - 1)]


class ListenerProcess:
    def __init__(
        self,
        url: str,
        ami: CountingAmiServer,
        server: str,
        slice_s: int,
        logs: Path,
        extra: dict[str, str] | None = None,
    ):
        self.log_path = logs / f"listener-{server}.log"
        env = {
            **os.environ,
            "PULSA_DATABASE_URL": url,
            "PULSA_AMI_SERVERS": f"{server}={ami.username}:{ami.secret}@{ami.host}:{ami.port}",
            "PULSA_CALL_SLICE_SECONDS": str(slice_s),
            "PULSA_AMI_DB_WORKERS": "8",
            "PULSA_LOG_LEVEL": os.environ.get("PULSA_BENCH_LOG_LEVEL", "WARNING"),
            **(extra or {}),
        }
        command = [str(PULSA), "ami", "--stats", "1"]
        if os.environ.get("PULSA_BENCH_PROFILE"):
            profile = logs / f"listener-{server}.prof"
            command = [sys.executable, "-m", "cProfile", "-o", str(profile), *command]
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(command, env=env, stdout=log, stderr=log)

    def cpu(self) -> float:
        return process_cpu_seconds(self.process.pid)

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def samples(self) -> list[tuple[float, int, int]]:
        """(time, events, debits) of every stats line."""
        out = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            match = STATS.match(line)
            if match:
                stamp = time.mktime(
                    time.strptime(match.group(1).split(",")[0], "%Y-%m-%d %H:%M:%S")
                )
                ms = int(match.group(1).split(",")[1]) / 1000 if "," in match.group(1) else 0
                out.append((stamp + ms, int(match.group(2)), int(match.group(3))))
        return out


def rates(samples: list[tuple[float, int, int]]) -> tuple[float, float, float, float]:
    """(events/s average while busy, events/s peak, debits/s average while debiting, peak)."""

    def per_second(index: int) -> list[float]:
        values = []
        for (t0, *a), (t1, *b) in itertools.pairwise(samples):
            if t1 > t0:
                values.append((b[index] - a[index]) / (t1 - t0))
        return values

    events, debits = per_second(0), per_second(1)
    busy_events = [v for v in events if v > 0]
    busy_debits = [v for v in debits if v > 0]
    return (
        statistics.fmean(busy_events) if busy_events else 0.0,
        max(events, default=0.0),
        statistics.fmean(busy_debits) if busy_debits else 0.0,
        max(debits, default=0.0),
    )


async def wait_settled(db: Database, server: str, timeout: float) -> float:
    def open_calls(session):
        return session.execute(
            select(func.count(Call.id)).where(
                Call.asterisk_server == server, Call.status.in_(("authorized", "answered"))
            )
        ).scalar_one()

    deadline = time.monotonic() + timeout
    while True:
        left = await asyncio.to_thread(db.run, open_calls)
        if not left or time.monotonic() > deadline:
            return left
        await asyncio.sleep(0.5)


async def load_phase(db, url, wallets, *, name, rate, seconds, talk, logs, seed=1):
    rng = random.Random(seed)
    count = int(rate * seconds)
    print(f"\n[{name}] {count} calls, {rate}/s for {seconds} s, talk ~{talk} s, 60 s slices")
    async with CountingAmiServer() as ami:
        server = f"bench-{name}"
        pbx = Pbx(
            ami,
            SystemClock(),
            db,
            server=server,
            policy=CallPolicy(slice_seconds=60),
            check_paid=False,
        )
        # The listener first: it resynchronizes at login, before these calls exist.
        listener = ListenerProcess(url, ami, server, 60, logs)
        await ami.wait_for_clients(1, timeout=30)
        await asyncio.sleep(2.0)
        tariffs, policy = TariffCache(), CallPolicy(slice_seconds=60)
        prepared = [
            pbx.prepare_call(rng.choice(wallets), f"1555{i % 10000:04d}") for i in range(count)
        ]
        started = time.monotonic()

        def authorize(call):
            request = pbx.request_for(call)
            return db.run(lambda s: authorize_call(s, request, policy, tariffs))

        loop = asyncio.get_running_loop()
        with ThreadPoolExecutor(4) as pool:  # off the loop: the AMI server keeps answering
            authorizations = await asyncio.gather(
                *(loop.run_in_executor(pool, authorize, call) for call in prepared)
            )
        assert all(a.status == "OK" for a in authorizations)
        print(f"  authorized beforehand in {time.monotonic() - started:.0f} s (as the AGI does)")
        cpu_before = listener.cpu()
        hangup_sent: dict[int, float] = {}
        peak = 0
        up = 0

        async def life(call, authorization):
            nonlocal up, peak
            await pbx.start_call(
                call.number, call.dialled, prepared=call, authorization=authorization
            )
            await asyncio.sleep(rng.uniform(0.5, 3.0))
            await pbx.answer(call)
            up += 1
            peak = max(peak, up)
            await asyncio.sleep(min(rng.expovariate(1 / talk), 150.0))
            if call.live:
                await pbx.hangup(call)
            up -= 1
            hangup_sent[call.call_id] = time.time()

        async def ticker():
            while True:
                await pbx.tick()
                await asyncio.sleep(0.05)

        ticking = asyncio.ensure_future(ticker())
        loop = asyncio.get_running_loop()
        begin = loop.time()
        tasks = []
        for index, (call, authorization) in enumerate(zip(prepared, authorizations, strict=True)):
            due = begin + index / rate
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.ensure_future(life(call, authorization)))
        late = loop.time() - (begin + (count - 1) / rate)
        first_wall = time.time() - (loop.time() - begin)
        await asyncio.gather(*tasks)
        last_wall = time.time()
        ticking.cancel()
        left = await wait_settled(db, server, 120)
        cpu = listener.cpu() - cpu_before
        await asyncio.sleep(1.5)
        listener.stop()
        wall = loop.time() - begin

    def rows(session):
        return session.execute(
            select(Call.id, CallRecord.created_at, CallRecord.source)
            .join(CallRecord, CallRecord.hold_id == Call.hold_id)
            .where(Call.asterisk_server == server)
        ).all()

    records = db.run(rows)
    delays = [
        created.replace(tzinfo=UTC).timestamp() - hangup_sent[call_id]
        for call_id, created, _ in records
        if call_id in hangup_sent
    ]
    _, events_peak, debits_avg, debits_peak = rates(listener.samples())
    events_avg = ami.delivered / max(last_wall - first_wall, 1e-9)
    cut = sum(1 for c in pbx.calls if c.cut)
    estimated = sum(1 for _, _, source in records if source != "cdr")
    print(
        f"  sent {ami.delivered} events; generator late by {late:.2f} s at the end; "
        f"peak {peak} calls up at once; {len(records)}/{count} CDRs, {estimated} estimated, "
        f"{left} unsettled, {cut} calls cut by their limit"
    )
    print(
        f"  listener: {events_avg:.0f} events/s over the run (peak {events_peak:.0f} in a second), "
        f"{debits_avg:.1f} debits/s while debiting (peak {debits_peak:.0f}), "
        f"CPU {cpu:.1f} s over {wall:.0f} s ({100 * cpu / wall:.0f}% of a core)"
    )
    print(
        f"  Hangup -> settled CDR: p50 {1000 * percentile(delays, 0.5):.0f} ms, "
        f"p99 {1000 * percentile(delays, 0.99):.0f} ms, max {1000 * max(delays):.0f} ms"
    )
    return {
        "p50": percentile(delays, 0.5),
        "p99": percentile(delays, 0.99),
        "events_avg": events_avg,
        "events_peak": events_peak,
        "unsettled": left,
        "cut": cut,
        "missing": count - len(records),
    }


BASELINE = {"PULSA_AMI_SAFETY_MS": "1000", "PULSA_AMI_LIMIT_PRECISION_MS": "1000"}


async def wallet_phase(
    db,
    url,
    plan,
    *,
    calls,
    logs,
    name="wallet",
    extra=None,
    credit=None,
    slice_s=5,
    gap_s=0.1,
):
    """`calls` calls on one wallet, started `gap_s` apart, each staying 65 s unless its
    credit runs out first (`credit`: units at 1 a second; by default a third of that)."""
    credit = credit if credit is not None else calls * 20
    shown = " ".join(f"{k}={v}" for k, v in (extra or {}).items()) or "the defaults"
    print(
        f"\n[{name}] {calls} calls on one wallet {gap_s:g} s apart, {slice_s} s slices, "
        f"credit {credit} at 1 a second ({shown})"
    )
    account, number = make_caller(db, plan, credit)
    async with CountingAmiServer() as ami:
        server = f"bench-{name}"
        pbx = Pbx(ami, SystemClock(), db, server=server, policy=CallPolicy(slice_seconds=slice_s))
        listener = ListenerProcess(url, ami, server, slice_s, logs, extra)
        await ami.wait_for_clients(1, timeout=30)
        await asyncio.sleep(1.0)

        async def ticker():
            while True:
                await pbx.tick()
                await asyncio.sleep(0.02)

        ticking = asyncio.ensure_future(ticker())
        begin = time.monotonic()
        started = []
        for _ in range(calls):
            call = await pbx.start_call(number, "15550100")
            if call.status == "OK":
                await pbx.answer(call)
                started.append(call)
            if gap_s:
                await asyncio.sleep(gap_s)
        while any(c.live for c in started):
            for call in started:
                if call.live and (time.monotonic() - begin) > 60 + 5:
                    await pbx.hangup(call)
            await asyncio.sleep(0.1)
        ticking.cancel()
        left = await wait_settled(db, server, 60)
        listener.stop()
        wall = time.monotonic() - begin

    def money(session):
        balance = session.get(Account, account).balance
        lowest = session.execute(
            select(func.min(LedgerEntry.balance_after)).where(LedgerEntry.account_id == account)
        ).scalar_one()
        debits = session.execute(
            select(func.count(LedgerEntry.id)).where(
                LedgerEntry.account_id == account,
                LedgerEntry.idempotency_key.like("call:%:debit:%"),
            )
        ).scalar_one()
        return balance, lowest, debits

    balance, lowest, debits = db.run(money)
    report = db.run(audit)
    ends = sorted(c.ended_at for c in started if c.cut)
    spread = (ends[-1] - ends[0]).total_seconds() if ends else float("nan")
    used = (credit * UNIT - balance) / UNIT
    _, _, debits_avg, debits_peak = rates(listener.samples())
    print(
        f"  {len(started)} of {calls} let in, {len(ends)} cut when the credit ran out, their "
        f"ends within {spread:.1f} s; credit used {used:.2f} of {credit}; "
        f"lowest balance {lowest / UNIT:.2f}; audit {'clean' if report.clean else report.problems}"
    )
    print(
        f"  {debits} debits in {wall:.0f} s ({debits / wall:.1f}/s; listener: {debits_avg:.1f}/s "
        f"while debiting, peak {debits_peak:.0f}); limit violations: {len(pbx.violations)}; "
        f"{left} unsettled"
    )
    for violation in pbx.violations[:5]:
        print(f"    limit violation: {violation}")
    return {
        "lowest": lowest,
        "clean": report.clean,
        "violations": pbx.violations,
        "left": left,
        "used": used,
        "credit": credit,
        "spread": spread,
        "let_in": len(started),
        "calls": calls,
        "settings": shown,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=100)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--talk", type=float, default=22)
    parser.add_argument("--fast-rate", type=float, default=300)
    parser.add_argument("--fast-seconds", type=float, default=20)
    parser.add_argument("--fast-talk", type=float, default=7)
    parser.add_argument("--wallet-calls", type=int, default=50)
    parser.add_argument("--wallets", type=int, default=500)
    parser.add_argument("--skip", default="", help="comma-separated phases to skip")
    args = parser.parse_args()
    skip = {p.strip() for p in args.skip.split(",") if p.strip()}

    logs = Path(tempfile.mkdtemp(prefix="pulsa-bench-listener-"))
    url = create_database("postgresql", logs, label="bench")
    db = Database(url, pool_size=8)
    try:
        upgrade(url)
        with db.transaction() as session:
            pg = session.execute(text("SHOW server_version")).scalar_one()
        print(
            f"python {platform.python_version()} ({platform.python_implementation()}), "
            f"{os.cpu_count()} CPUs: {cpu_model()}; PostgreSQL {pg}; logs in {logs}"
        )
        plan = make_plan(db, RATES)
        started = time.monotonic()
        wallets = [make_caller(db, plan, 10**6)[1] for _ in range(args.wallets)]
        print(f"{args.wallets} wallets created in {time.monotonic() - started:.0f} s")
        results = {}
        if "load" not in skip:
            results["load"] = asyncio.run(
                load_phase(
                    db,
                    url,
                    wallets,
                    name="load",
                    rate=args.rate,
                    seconds=args.seconds,
                    talk=args.talk,
                    logs=logs,
                )
            )
        if "fast" not in skip:
            results["fast"] = asyncio.run(
                load_phase(
                    db,
                    url,
                    wallets,
                    name="fast",
                    rate=args.fast_rate,
                    seconds=args.fast_seconds,
                    talk=args.fast_talk,
                    logs=logs,
                    seed=2,
                )
            )
        cases = {
            "seed": {"calls": 4, "credit": 100, "slice_s": 60, "gap_s": 1.0},
            "burst": {"calls": 40, "credit": 100, "slice_s": 5, "gap_s": 0.0},
        }
        for case, shape in cases.items():
            if case in skip:
                continue
            results[case] = asyncio.run(wallet_phase(db, url, plan, logs=logs, name=case, **shape))
            if "baseline" not in skip:
                results[f"{case} baseline"] = asyncio.run(
                    wallet_phase(
                        db, url, plan, logs=logs, name=f"{case}-baseline", extra=BASELINE, **shape
                    )
                )
        if "wallet" not in skip:
            results["wallet"] = asyncio.run(
                wallet_phase(db, url, plan, calls=args.wallet_calls, logs=logs)
            )
        print("\ncredit used and how far apart the calls ended:")
        for name, w in results.items():
            if "used" in w:
                print(
                    f"  {name:15} {w['let_in']:3} of {w['calls']:3} calls let in, credit used "
                    f"{w['used']:7.2f} of {w['credit']:5}, ends within {w['spread']:5.1f} s "
                    f"({w['settings']})"
                )
        for name in ("load", "fast"):
            if name in results:
                r = results[name]
                print(
                    f"  {name:15} throughput: {r['events_avg']:.0f} events/s (peak "
                    f"{r['events_peak']:.0f}), settle p50 {1000 * r['p50']:.0f} ms, p99 "
                    f"{1000 * r['p99']:.0f} ms"
                )
        print("\ntargets:")
        ok = True
        if "load" in results:
            good = results["load"]["p99"] < 1.0 and not results["load"]["unsettled"]
            ok &= good
            print(f"  p99 settle delay < 1 s at {args.rate:.0f}/s: {'yes' if good else 'NO'}")
        if "fast" in results:
            fast = results["fast"]
            good = not fast["unsettled"] and not fast["missing"] and fast["p99"] < 5.0
            ok &= good
            print(
                f"  keeps up with {args.fast_rate:.0f} starts/s (all settled, p99 "
                f"{fast['p99'] * 1000:.0f} ms): {'yes' if good else 'NO'}"
            )
        for name, w in results.items():
            if "used" in w:
                good = w["lowest"] >= 0 and w["clean"] and not w["violations"] and not w["left"]
                ok &= good
                print(
                    f"  one wallet ({name}): never below zero, audit clean, no limit beyond "
                    f"what is paid: {'yes' if good else 'NO'}"
                )
        if "seed" in results:
            seed = results["seed"]
            good = 99 <= seed["used"] <= 100
            ok &= good
            print(
                f"  seed case with the defaults uses at least 99 of 100, never more "
                f"({seed['used']:.2f}): {'yes' if good else 'NO'}"
            )
        return 0 if ok else 1
    finally:
        db.dispose()
        drop_database(url)


if __name__ == "__main__":
    sys.exit(main())
