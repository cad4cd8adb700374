"""The customer portal's home and history pages on PostgreSQL with a long history.

    python bench/portal.py [--customers 10000] [--entries 1000000] [--heavy 100000]
                           [--clients 20] [--requests 50] [--think MS] [--keep NAME]

Creates its own PostgreSQL database (dropped at the end; server from PULSA_BENCH_PG or
PULSA_TEST_PG, default postgresql+psycopg://postgres@127.0.0.1:5432), migrates it and
fills it with bare inserts: `--customers` customers with a wallet each and `--entries`
ledger entries, `--heavy` of them on one customer's wallet and the rest spread over the
others. Then `--clients` threads, each a signed-in customer (the heavy one and others in
turn), ask `--requests` times each for every page below, through the portal's WSGI app in
this process (Flask and the database work as served, without an HTTP server in front):
requests per second of the whole run, p50 and p95 per page (ms), and the CPU time a
page costs: each request's own thread's CPU time (p50 per page: the app's work plus the
test client's, which a real server's parsing and writing replace), and the whole
process's CPU time divided by the requests (what one core can carry: 1000 / that ms is
the most requests per second one process could serve). The CPU times move less than the
latencies with what else runs on the machine; the load average is printed before and
after the run.

By default a client asks again as soon as it has its answer (a closed loop with no pause):
the 20 clients then keep 20 requests in flight at every moment, which measures capacity,
and a request waits for the others in one Python process (p50 is about clients divided by
requests per second). `--think MS` makes each client pause between two pages like a
customer reading them, MS on average: the latency a customer sees at that load. The pauses
are drawn at random (exponential, each client its own seeded generator) and each client
starts after a random part of one, so that the customers ask independently of each other;
fixed pauses from a common start would keep all 20 asking at the same instant, round after
round, and measure a queue no independent customers make.

  home              balance, calls in progress, packages
  history first     the newest 25 entries
  history last      the customer's oldest page (keyset: before their 26th oldest entry)

Filling a million entries takes minutes: `--keep NAME` keeps the database NAME after the
run and, when it exists already with the same figures, reuses it without filling it again
(it is migrated to the newest revision first, so a new index is measured too). Drop it
with `DROP DATABASE NAME` when done.
"""

from __future__ import annotations

import argparse
import os
import random
import secrets
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from authorize import baseline, cpu_model
from sqlalchemy import create_engine, func, insert, select, text

from portal import create_app
from pulsa.settings import load_settings
from wallet.customer_access import issue_portal_link, set_password_with_link
from wallet.db import Database
from wallet.ledger import utcnow
from wallet.migrate import upgrade
from wallet.models import Account, Customer, LedgerEntry

SERVER = os.environ.get(
    "PULSA_BENCH_PG",
    os.environ.get("PULSA_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432"),
)
PASSWORD = "bench portal password 2026"
BATCH = 20_000


def fill(db: Database, customers: int, entries: int, heavy: int) -> list[int]:
    """Customers with wallets and their entries; the customer ids, the heavy one first."""
    now = utcnow()
    with db.transaction() as session:
        session.execute(
            insert(Customer),
            [
                {"name": f"Customer {n}", "phone": f"0899{n:08d}", "created_at": now}
                for n in range(customers)
            ],
        )
        ids = list(session.execute(select(Customer.id).order_by(Customer.id)).scalars())
        session.execute(
            insert(Account),
            [{"customer_id": i, "currency": "IDR", "created_at": now} for i in ids],
        )
        accounts = list(session.execute(select(Account.id).order_by(Account.id)).scalars())
    heavy_account, others = accounts[0], accounts[1:]
    for start in range(0, entries, BATCH):
        rows = []
        for n in range(start, min(start + BATCH, entries)):
            account = heavy_account if n < heavy else others[n % len(others)]
            rows.append(
                {
                    "account_id": account,
                    "amount": 1_000_000_000,
                    "balance_after": 1_000_000_000,
                    "kind": "topup",
                    "method": "bank_transfer",
                    "reference": f"ref {n}",
                    "idempotency_key": f"bench:{n}",
                    "actor": "bench",
                    "created_at": now,
                }
            )
        with db.transaction() as session:
            session.execute(insert(LedgerEntry), rows)
    return ids


def filled(db: Database, customers: int, entries: int, heavy: int) -> list[int] | None:
    """The customer ids (the heavy one first) of a kept database filled with these figures,
    or None when it is empty (a database filled otherwise is refused, not mixed)."""
    with db.transaction() as session:
        ids = list(session.execute(select(Customer.id).order_by(Customer.id)).scalars())
        if not ids:
            return None
        count = session.execute(select(func.count()).select_from(LedgerEntry)).scalar_one()
        first = session.execute(
            select(func.count())
            .select_from(LedgerEntry)
            .join(Account, Account.id == LedgerEntry.account_id)
            .where(Account.customer_id == ids[0])
        ).scalar_one()
    if (len(ids), count, first) != (customers, entries, heavy):
        raise SystemExit(
            f"the kept database holds {len(ids)} customers, {count} entries, {first} on the "
            "first wallet: other figures; drop it or choose another name"
        )
    return ids


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--heavy", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--think", type=float, default=0.0, metavar="MS")
    parser.add_argument("--keep", metavar="NAME", help="keep (and reuse) the database NAME")
    args = parser.parse_args()
    name = args.keep or f"pulsa_bench_portal_{secrets.token_hex(3)}"
    admin = create_engine(f"{SERVER}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        exists = connection.execute(
            text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
        ).first()
        if exists is None:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = f"{SERVER}/{name}"
    db = None
    try:
        upgrade(url)
        db = Database(url, pool_size=args.clients + 5)
        print(f"python    {sys.version.split()[0]}")
        print(f"cpu       {cpu_model()}, {os.cpu_count()} cores")
        print(f"load      {' '.join(f'{x:.2f}' for x in os.getloadavg())} (1, 5, 15 min)")
        print(baseline(url))
        started = time.perf_counter()
        ids = filled(db, args.customers, args.entries, args.heavy)
        if ids is None:
            ids = fill(db, args.customers, args.entries, args.heavy)
            how = f"filled in {time.perf_counter() - started:.0f} s"
        else:
            how = "kept from an earlier run"
        with db.engine.connect() as connection:
            # Statistics for the indexes a new revision may have added.
            connection.execution_options(isolation_level="AUTOCOMMIT").execute(text("ANALYZE"))
        print(
            f"database  PostgreSQL, {args.customers} customers, {args.entries} ledger entries, "
            f"{args.heavy} on one wallet ({how})"
        )
        signed = ids[: max(1, args.clients // 2)]

        def set_password(session, customer_id):
            token, _ = issue_portal_link(session, customer_id, actor="bench")
            set_password_with_link(session, token, PASSWORD)

        for customer_id in signed:
            db.run(lambda s, c=customer_id: set_password(s, c))
        with db.transaction() as session:
            # Each signed-in customer's last page: before their 26th oldest entry.
            oldest = {
                customer_id: session.execute(
                    select(LedgerEntry.id)
                    .join(Account, Account.id == LedgerEntry.account_id)
                    .where(Account.customer_id == customer_id)
                    .order_by(LedgerEntry.id)
                    .offset(25)
                    .limit(1)
                ).scalar_one_or_none()
                or 1
                for customer_id in signed
            }
        settings = load_settings({"PULSA_DATABASE_URL": url, "PULSA_SECRET_KEY": "bench"})
        app = create_app(settings, db)
        app.config["WTF_CSRF_ENABLED"] = False
        pages = {
            "home": "/home",
            "history first": "/history/",
            "history last": "/history/?before={oldest}",
        }
        timings: dict[str, list[float]] = {label: [] for label in pages}
        cpu_times: dict[str, list[float]] = {label: [] for label in pages}
        lock = threading.Lock()
        # The run is timed from the moment every client has signed in (signing in hashes
        # a password: it is no page view) to the last answer.
        started_at: dict[str, float] = {}

        def start_clock() -> None:
            started_at.update(wall=time.perf_counter(), cpu=time.process_time())

        go = threading.Barrier(args.clients, action=start_clock)
        errors: list[str] = []

        def client(number: int) -> None:
            visitor = app.test_client()
            customer_id = signed[number % len(signed)]
            visitor.environ_base["REMOTE_ADDR"] = f"10.0.{number // 250}.{number % 250 + 1}"
            answer = visitor.post(
                "/sign-in", data={"identifier": str(customer_id), "password": PASSWORD}
            )
            if answer.status_code != 302:
                errors.append(f"sign-in {answer.status_code}")
                return
            go.wait(timeout=120)
            chance = random.Random(number)
            if args.think:
                time.sleep(chance.uniform(0, args.think / 1000))
            mine: dict[str, list[float]] = {label: [] for label in pages}
            mine_cpu: dict[str, list[float]] = {label: [] for label in pages}
            for _ in range(args.requests):
                for label, path in pages.items():
                    path = path.format(oldest=oldest[customer_id])
                    begun, cpu = time.perf_counter(), time.thread_time()
                    response = visitor.get(path)
                    mine[label].append(time.perf_counter() - begun)
                    mine_cpu[label].append(time.thread_time() - cpu)
                    if response.status_code != 200:
                        errors.append(f"{path} {response.status_code}")
                    if args.think:
                        time.sleep(chance.expovariate(1000 / args.think))
            with lock:
                for label, walls in mine.items():
                    timings[label].extend(walls)
                    cpu_times[label].extend(mine_cpu[label])

        threads = [threading.Thread(target=client, args=(n,)) for n in range(args.clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - started_at["wall"]
        process_cpu = time.process_time() - started_at["cpu"]
        if errors:
            raise SystemExit(f"errors: {errors[:5]}")
        total = sum(len(walls) for walls in timings.values())
        pauses = f"pauses of {args.think:g} ms on average between pages" if args.think else ""
        print(
            f"run       {args.clients} clients, {total} requests, {total / elapsed:.0f} req/s, "
            + (pauses or "no pause")
        )
        print(
            f"cpu       {process_cpu / total * 1000:.2f} ms of the process's CPU per request "
            f"({process_cpu / elapsed:.0%} of a core over the run)"
        )
        print(f"load      {' '.join(f'{x:.2f}' for x in os.getloadavg())} (after the run)")
        for label, walls in timings.items():
            walls.sort()
            p95 = walls[max(0, int(len(walls) * 0.95) - 1)]
            print(
                f"{label:<15} p50 {statistics.median(walls) * 1000:7.2f} ms   "
                f"p95 {p95 * 1000:7.2f} ms   "
                f"CPU p50 {statistics.median(cpu_times[label]) * 1000:5.2f} ms"
            )
    finally:
        if db is not None:
            db.dispose()
        if not args.keep:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


if __name__ == "__main__":
    main()
