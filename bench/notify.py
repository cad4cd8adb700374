"""Notices through the outbox to a loopback Bot API: at Telegram's pace, then unlimited.

    python bench/notify.py [--notices 10000] [--limited 10000] [--chats 2000]
                           [--concurrency 16]

Creates its own PostgreSQL database (dropped at the end; server from PULSA_BENCH_PG or
PULSA_TEST_PG, default postgresql+psycopg://postgres@127.0.0.1:5432), `--chats` customers
with a linked Telegram chat each, and runs the outbox worker (bots.delivery) against the
fake Bot API of the tests (tests/bots/fake_telegram.py, standing for Telegram), which
runs in a process of its own so that this process's CPU time is the worker's alone:

  limited    `--limited` notices at Telegram's pace (30 a second, 1 a second per chat,
             less a 5 % margin): messages per second, and the share of one core the
             worker used to keep that pace
  unlimited  `--notices` notices with no pace: messages per second the worker manages,
             its CPU time per message, and how many times Telegram's limit that is

Each notice is enqueued in the outbox (bare inserts), routed to its chat, claimed, sent
through python-telegram-bot and recorded, as in production. At the end every notice must
be sent and the fake must have received each exactly once.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scratch import print_machine, scratch_database
from sqlalchemy import delete, func, insert, select

from bots.delivery import DeliveryWorker, TelegramSender
from messaging.models import ChatLink, Delivery, Notice
from wallet.db import Database
from wallet.ledger import utcnow
from wallet.models import Customer

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "7000000001:BENCH-token"

FAKE = """
import signal, sys, threading
from collections import Counter
from tests.bots.fake_telegram import FakeBotApi
api = FakeBotApi(token=sys.argv[1])
api.start()
print(api.port, flush=True)
done = threading.Event()
signal.signal(signal.SIGTERM, lambda *a: done.set())
done.wait()
texts = Counter(api.texts())
print(len(api.messages()), sum(1 for n in texts.values() if n > 1), flush=True)
api.stop()
"""


def fill(db: Database, chats: int) -> list[int]:
    now = utcnow()
    with db.transaction() as session:
        session.execute(
            insert(Customer), [{"name": f"Chat {n}", "created_at": now} for n in range(chats)]
        )
        ids = list(session.execute(select(Customer.id).order_by(Customer.id)).scalars())
        session.execute(
            insert(ChatLink),
            [
                {
                    "platform": "telegram",
                    "chat_id": str(9_000_000 + n),
                    "customer_id": customer_id,
                    "language": "id",
                    "linked_by": "token",
                    "created_at": now,
                }
                for n, customer_id in enumerate(ids)
            ],
        )
    return ids


def enqueue(db: Database, customers: list[int], count: int, label: str) -> None:
    now = utcnow()
    with db.transaction() as session:
        session.execute(delete(Delivery))
        session.execute(delete(Notice))
        for start in range(0, count, 2000):
            session.execute(
                insert(Notice),
                [
                    {
                        "key": f"bench-{label}:{n}",
                        "recipient": f"customer:{customers[n % len(customers)]}",
                        "channel": "chat",
                        "payload": f'{{"text": "{label} {n}"}}',
                        "status": "pending",
                        "attempts": 0,
                        "next_attempt_at": now,
                        "created_at": now,
                        "kind": "announcement",
                    }
                    for n in range(start, min(start + 2000, count))
                ],
            )


def sent(db: Database) -> int:
    with db.transaction() as session:
        return session.execute(
            select(func.count(Notice.id)).where(Notice.status == "sent")
        ).scalar_one()


async def deliver(db: Database, sender: TelegramSender, count: int, concurrency: int):
    worker = DeliveryWorker(db, [sender], concurrency=concurrency, poll_interval=0.5)
    stop = asyncio.Event()
    cpu, wall = time.process_time(), time.perf_counter()
    running = asyncio.create_task(worker.run(stop))
    while True:
        await asyncio.sleep(0.5)
        if await asyncio.to_thread(sent, db) >= count:
            break
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    stop.set()
    await running
    return wall, cpu, worker.stats


def phase(name: str, db, sender, count: int, concurrency: int, limit: float) -> None:
    wall, cpu, stats = asyncio.run(deliver(db, sender, count, concurrency))
    rate = count / wall
    print(
        f"{name:<10} {count} notices in {wall:.1f} s: {rate:.1f} messages/s; worker CPU "
        f"{cpu / count * 1e3:.2f} ms per message ({cpu / wall * 100:.0f} % of a core), "
        f"database {stats.seconds_in_database / count * 1e3:.2f} ms wall per message; "
        f"{rate / limit:.1f} x Telegram's {limit:.0f}/s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notices", type=int, default=10_000)
    parser.add_argument("--limited", type=int, default=10_000)
    parser.add_argument("--chats", type=int, default=2_000)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    fake = subprocess.Popen(
        [sys.executable, "-c", FAKE, TOKEN],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        with scratch_database("notify") as url:
            db = Database(url, pool_size=4)
            try:
                api_url = f"http://127.0.0.1:{int(fake.stdout.readline())}"
                print_machine(url)
                customers = fill(db, args.chats)
                print(f"database  PostgreSQL, {args.chats} customers with a linked Telegram chat")
                total = 0
                if args.limited:
                    enqueue(db, customers, args.limited, "limited")
                    phase("limited", db, TelegramSender(TOKEN, api_url), args.limited, 16, 30.0)
                    total += args.limited
                if args.notices:
                    enqueue(db, customers, args.notices, "unlimited")
                    unlimited = TelegramSender(
                        TOKEN, api_url, per_second=1e9, per_chat_per_second=1e9, connections=64
                    )
                    phase("unlimited", db, unlimited, args.notices, args.concurrency, 30.0)
                    total += args.notices
                fake.send_signal(signal.SIGTERM)
                received, repeated = (int(x) for x in fake.stdout.readline().split())
                print(
                    f"check     the Bot API received {received} of {total} messages, "
                    f"{repeated} twice"
                )
                if received != total or repeated:
                    raise SystemExit("FAILED: messages lost or repeated")
            finally:
                db.dispose()
    finally:
        if fake.poll() is None:
            fake.kill()


if __name__ == "__main__":
    main()
