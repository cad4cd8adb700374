"""Ledger throughput on PostgreSQL: pulsa's wallet services against the bare SQL.

    python bench/ledger.py [--seconds S] [--workers 8] [--mode processes|threads]
                           [--accounts 10000] [--profile]

Creates its own PostgreSQL database (dropped at the end; server from PULSA_BENCH_PG or
PULSA_TEST_PG, default postgresql+psycopg://postgres@127.0.0.1:5432), migrates it with
Alembic and opens one hot account plus `--accounts` others through the wallet services.
Then, for S seconds each, `--workers` workers debit:

  pulsa hot     one hot account with `ledger.spend` inside `Database.run`
  bare  hot     the same account with one bare psycopg 3 transaction:
                SELECT ... FOR UPDATE; UPDATE accounts; INSERT ledger entry; COMMIT
  pulsa spread  a random account of the others with `ledger.spend`
  bare  spread  the same with the bare transaction

and prints debits per second, the ratio pulsa/bare for both cases and the target
(ratio >= 0.5). Workers are processes by default (each its own engine or connection, as
in production, where every pulsa daemon and web worker is a process): threads of one
process would share the GIL and measure Python's lock rather than the database. The
bare transaction keeps the books too (balance_after, the balance under the row lock), so
`audit` must be clean at the end; it is printed. `--profile` (or a ratio below target)
profiles one pulsa worker in this process and prints where its time goes.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import multiprocessing
import os
import platform
import pstats
import queue
import random
import secrets
import statistics
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg
import sqlalchemy
from sqlalchemy import create_engine, text

from wallet import ledger
from wallet.audit import audit
from wallet.customers import create_customer
from wallet.db import Database
from wallet.migrate import upgrade
from wallet.models import Account, Customer

TARGET_RATIO = 0.5
SERVER = os.environ.get(
    "PULSA_BENCH_PG",
    os.environ.get("PULSA_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432"),
)
OPENING = 10**15  # micro-units: no debit of the bench is ever refused
WARM_UP = 20  # transactions per worker before the clock starts

BARE_LOCK = "SELECT balance, held, credit_limit, status FROM accounts WHERE id = %s FOR UPDATE"
BARE_UPDATE = "UPDATE accounts SET balance = %s WHERE id = %s"
BARE_INSERT = (
    "INSERT INTO ledger_entries"
    " (account_id, amount, balance_after, kind, idempotency_key, actor, created_at)"
    " VALUES (%s, %s, %s, 'package', %s, 'system', %s)"
)


# -- the two ways of debiting ------------------------------------------------------------


def pulsa_debit(db: Database) -> Callable[[int, int, str], object]:
    def debit(account_id: int, amount: int, key: str) -> object:
        return db.run(
            lambda session: ledger.spend(session, account_id, amount, key=key, kind="package")
        )

    return debit


def bare_debit(connection: psycopg.Connection) -> Callable[[int, int, str], object]:
    def debit(account_id: int, amount: int, key: str) -> object:
        with connection.cursor() as cursor:
            cursor.execute(BARE_LOCK, (account_id,))
            balance, held, credit_limit, status = cursor.fetchone()
            if status != "active" or amount > balance + credit_limit - held:
                raise RuntimeError(f"account {account_id} cannot pay {amount}")
            cursor.execute(BARE_UPDATE, (balance - amount, account_id))
            cursor.execute(
                BARE_INSERT, (account_id, -amount, balance - amount, key, ledger.utcnow())
            )
        connection.commit()
        return None

    return debit


# -- workers ------------------------------------------------------------------------------


class Worker:
    """One debiting client with both ways open: its own pulsa Database (a pool of one)
    and its own bare psycopg connection, so each measurement starts warm."""

    def __init__(self, url: str, hot: int, spread: list[int], index: int) -> None:
        self.db = Database(url, pool_size=1)
        self.connection = psycopg.connect(psycopg_url(url))
        self.debits = {"pulsa": pulsa_debit(self.db), "bare": bare_debit(self.connection)}
        self.accounts = {"hot": [hot], "spread": spread}
        self.index = index

    def measure(self, way: str, case: str, seconds: float, label: str, start) -> int:
        """Debit random accounts of the case for `seconds` after the start barrier."""
        debit, accounts = self.debits[way], self.accounts[case]
        rng = random.Random(f"{label}:{self.index}")
        prefix = f"{label}:{self.index}"
        for n in range(WARM_UP):
            debit(rng.choice(accounts), rng.randint(1, 1000), f"{prefix}:warm:{n}")
        start.wait(120)
        done, deadline = 0, time.monotonic() + seconds
        while time.monotonic() < deadline:
            debit(rng.choice(accounts), rng.randint(1, 1000), f"{prefix}:{done}")
            done += 1
        return done

    def close(self) -> None:
        self.connection.close()
        self.db.dispose()


def serve(url, hot, spread, index, tasks, results, start) -> None:
    """A worker's life: take (way, case, seconds, label) tasks until None."""
    worker = None
    try:
        worker = Worker(url, hot, spread, index)
        results.put(("ready", index))
        while (task := tasks.get()) is not None:
            results.put(("done", worker.measure(*task, start)))
    except BaseException as error:
        start.abort()
        results.put(("failed", f"worker {index}: {error!r}"))
    finally:
        if worker is not None:
            worker.close()


class Crew:
    """`workers` long-lived workers, processes or threads, started once and given the
    same task at the same moment for each measurement."""

    def __init__(self, mode: str, workers: int, url: str, hot: int, spread: list[int]) -> None:
        if mode == "processes":
            context = multiprocessing.get_context("spawn")
            make, self.start = context.Process, context.Barrier(workers + 1)
            self.results, queue_type = context.Queue(), context.Queue
        else:
            make, self.start = threading.Thread, threading.Barrier(workers + 1)
            self.results, queue_type = queue.Queue(), queue.Queue
        self.tasks = [queue_type() for _ in range(workers)]
        self.members = [
            make(
                target=serve,
                args=(url, hot, spread, i, self.tasks[i], self.results, self.start),
                daemon=True,
            )
            for i in range(workers)
        ]
        for member in self.members:
            member.start()
        self._collect("ready")

    def _collect(self, expected: str) -> list:
        answers = [self.results.get(timeout=300) for _ in self.members]
        failures = [detail for kind, detail in answers if kind != expected]
        if failures:
            raise RuntimeError("; ".join(map(str, failures)))
        return [detail for _, detail in answers]

    def rate(self, way: str, case: str, seconds: float) -> float:
        """Debits per second of all the workers together."""
        label = f"{way}-{case}-{secrets.token_hex(4)}"
        for tasks in self.tasks:
            tasks.put((way, case, seconds, label))
        self.start.wait(300)
        began = time.monotonic()
        counts = self._collect("done")
        return sum(counts) / max(time.monotonic() - began, seconds)

    def close(self) -> None:
        for tasks in self.tasks:
            tasks.put(None)
        for member in self.members:
            member.join(30)


# -- setup, report -----------------------------------------------------------------------


def psycopg_url(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def admin(statement: str) -> None:
    engine = create_engine(f"{SERVER}/postgres", isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(text(statement))
    finally:
        engine.dispose()


def open_accounts(db: Database, count: int) -> tuple[int, list[int]]:
    """The hot account, opened and topped up through the wallet services, and `count`
    others for the spread case. Those open empty with a credit limit that no debit of the
    bench reaches: no money moves, so they are inserted in bulk (a few seconds instead of
    a minute of one-by-one top-ups) and still agree with the ledger (balance 0, no entry)."""

    def make_hot(session) -> int:
        _, account = create_customer(session, "Bench hot", currency="IDR")
        ledger.top_up(session, account.id, OPENING, key=f"bench-opening-{account.id}")
        return account.id

    hot = db.run(make_hot)
    now = ledger.utcnow()
    with db.transaction() as session:
        accounts = [
            Account(
                customer=Customer(name=f"Bench {n}", created_at=now),
                currency="IDR",
                balance=0,
                held=0,
                credit_limit=OPENING,
                status="active",
                created_at=now,
            )
            for n in range(count)
        ]
        session.add_all(accounts)
        session.flush()
        spread = [account.id for account in accounts]
    return hot, spread


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def median(values: list[float]) -> float:
    return statistics.median(values)


def single_worker_costs(url: str, hot: int, seconds: float) -> str:
    """Wall and client-CPU time per debit of one worker alone, for both ways: the part of
    a debit spent in Python on the client versus waiting for the server."""
    worker = Worker(url, hot, [hot], 0)
    lines = []
    try:
        for way in ("pulsa", "bare"):
            debit, label = worker.debits[way], f"single-{way}-{secrets.token_hex(4)}"
            for n in range(WARM_UP):
                debit(hot, 1, f"{label}:warm:{n}")
            done, wall, cpu = 0, time.perf_counter(), time.process_time()
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                debit(hot, 1, f"{label}:{done}")
                done += 1
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            lines.append(
                f"{way:5} alone   {done / wall:8,.0f} debits/s: {wall / done * 1e3:.2f} ms each,"
                f" of which {cpu / done * 1e3:.2f} ms CPU in this Python process"
            )
    finally:
        worker.close()
    return "\n".join(lines)


def profile_pulsa(url: str, accounts: list[int], seconds: float) -> str:
    """Where one pulsa worker's CPU goes (this process, one thread), by package and by
    function. The profiler counts CPU time only, so waiting for the server is left out;
    it slows everything down by a similar factor, so read the shares, not the totals."""
    worker = Worker(url, accounts[0], accounts, 0)
    debit = worker.debits["pulsa"]
    rng = random.Random("profile")
    profiler = cProfile.Profile(time.process_time)
    done, deadline = 0, time.monotonic() + seconds
    profiler.enable()
    while time.monotonic() < deadline:
        debit(rng.choice(accounts), rng.randint(1, 1000), f"profile:{done}")
        done += 1
    profiler.disable()
    worker.close()
    stats = pstats.Stats(profiler)
    shares: dict[str, float] = defaultdict(float)
    for (filename, _, _), (_, _, own_time, _, _) in stats.stats.items():
        shares[package_of(filename)] += own_time
    total = sum(shares.values())
    out = io.StringIO()
    out.write(f"profile   {done:,} pulsa debits on one worker, CPU by package (own time):\n")
    for package, own_time in sorted(shares.items(), key=lambda item: -item[1])[:8]:
        out.write(f"          {package:20} {own_time / total:6.1%}\n")
    stats.stream = out
    stats.sort_stats("tottime").print_stats(15)
    return out.getvalue()


def package_of(filename: str) -> str:
    path = filename.replace("\\", "/")
    if filename == "~":
        return "built-in functions"
    for marker in ("sqlalchemy/orm", "sqlalchemy/sql", "sqlalchemy/engine", "sqlalchemy"):
        if f"/{marker}/" in path:
            return marker.replace("/", ".")
    for marker in ("psycopg", "wallet", "bench"):
        if f"/{marker}/" in path:
            return marker
    return "python stdlib/other"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4.0, help="per measurement")
    parser.add_argument("--workers", type=int, default=8, help="concurrent workers")
    parser.add_argument("--rounds", type=int, default=3, help="measurements of each, interleaved")
    parser.add_argument("--accounts", type=int, default=10_000, help="accounts for 'spread'")
    parser.add_argument("--mode", choices=("processes", "threads"), default="processes")
    parser.add_argument("--profile", action="store_true", help="always profile pulsa")
    args = parser.parse_args(argv)

    name = f"pulsa_bench_{os.getpid()}_{secrets.token_hex(3)}"
    url = f"{SERVER}/{name}"
    admin(f'CREATE DATABASE "{name}"')
    crew = None
    try:
        upgrade(url)
        db = Database(url)
        with db.transaction() as session:
            server_version = session.execute(text("SHOW server_version")).scalar_one()
            synchronous_commit = session.execute(text("SHOW synchronous_commit")).scalar_one()
        began = time.monotonic()
        hot, spread = open_accounts(db, args.accounts)
        setup = time.monotonic() - began

        print(f"python    {platform.python_implementation()} {platform.python_version()}")
        print(f"cpu       {cpu_model()}, {os.cpu_count()} cores")
        print(
            f"database  PostgreSQL {server_version} (synchronous_commit={synchronous_commit}),"
            f" psycopg {psycopg.__version__}, SQLAlchemy {sqlalchemy.__version__}"
        )
        print(f"setup     1 hot + {len(spread):,} spread accounts in {setup:.1f} s")
        print(
            f"run       {args.workers} worker {args.mode}, {args.rounds} rounds of"
            f" {args.seconds:g} s per measurement, {WARM_UP} warm-up debits each"
        )
        try:
            load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
            print(f"load      {load} (1, 5, 15 min) before the run")
        except OSError:
            pass
        print()

        crew = Crew(args.mode, args.workers, url, hot, spread)
        rates: dict[tuple[str, str], list[float]] = defaultdict(list)
        ratios: dict[str, list[float]] = defaultdict(list)
        for round_number in range(args.rounds):
            for case in ("hot", "spread"):
                # Alternate which goes first, so a drift in the machine's load hits both.
                order = ("pulsa", "bare") if round_number % 2 == 0 else ("bare", "pulsa")
                measured = {way: crew.rate(way, case, args.seconds) for way in order}
                for way, rate in measured.items():
                    rates[way, case].append(rate)
                ratios[case].append(measured["pulsa"] / measured["bare"])
                print(
                    f"round {round_number + 1}  {case:6}  pulsa {measured['pulsa']:8,.0f}"
                    f"  bare {measured['bare']:8,.0f} debits/s"
                    f"  ratio {ratios[case][-1]:.2f}"
                )
        crew.close()
        crew = None

        print()
        below = False
        meanings = {"hot": "1 hot account", "spread": f"{len(spread):,} accounts"}
        for case in ("hot", "spread"):
            for way in ("pulsa", "bare"):
                print(
                    f"{way:5} {case:6}  {median(rates[way, case]):10,.0f} debits/s"
                    f" (median of {args.rounds})"
                )
        for case in ("hot", "spread"):
            ratio = median(ratios[case])
            below |= ratio < TARGET_RATIO
            verdict = "ok" if ratio >= TARGET_RATIO else "BELOW TARGET"
            print(
                f"ratio {case:6}  {ratio:10.2f}  pulsa/bare on {meanings[case]}"
                f" (median; target >= {TARGET_RATIO}: {verdict})"
            )

        with db.transaction() as session:
            report = audit(session)
        print()
        print(
            f"audit     {report.accounts_checked:,} accounts, {report.entries_checked:,} entries:"
            f" {'clean' if report.clean else 'PROBLEMS'}"
        )
        for problem in report.problems:
            print(f"          {problem}")
        db.dispose()
        assert report.clean, report.problems

        if args.profile or below:
            print()
            print(single_worker_costs(url, hot, min(args.seconds, 3.0)))
            print()
            print(profile_pulsa(url, spread, min(args.seconds, 3.0)))
        return 0
    finally:
        if crew is not None:
            crew.close()
        admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    sys.exit(main())
