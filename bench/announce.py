"""An announcement and a broadcast to a large audience, on PostgreSQL: what the admin's
request waits for.

    python bench/announce.py [--customers 10000] [--runs 3]

Creates its own PostgreSQL database (dropped at the end; server from PULSA_BENCH_PG or
PULSA_TEST_PG, default postgresql+psycopg://postgres@127.0.0.1:5432), migrates it and
fills it with bare inserts: `--customers` customers, each with one linked Telegram chat.
Then, `--runs` times each, it times the transaction the admin's request runs (the
service and its commit, as `Database.run` does it):

  announcement   post_announcement to all customers: the announcement and one outbox
                 notice per linked customer (messaging.announcements)
  broadcast      send_broadcast to all: the broadcast, one recipient row and one notice
                 per chat (messaging.broadcasts)

and the worker's side once: routing the announcement's notices into deliveries
(route_notices, 200 a transaction, as bots.delivery does).
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scratch import print_machine, scratch_database
from sqlalchemy import func, insert, select, text

from messaging.actors import Actor
from messaging.announcements import post_announcement
from messaging.broadcasts import send_broadcast
from messaging.models import ChatLink, Notice
from messaging.outbox import route_notices
from wallet.db import Database
from wallet.ledger import utcnow
from wallet.models import Customer
from wallet.staff import create_staff


def fill(db: Database, customers: int) -> None:
    now = utcnow()
    with db.transaction() as session:
        session.execute(
            insert(Customer),
            [{"name": f"Customer {n}", "created_at": now} for n in range(customers)],
        )
        ids = session.execute(select(Customer.id).order_by(Customer.id)).scalars().all()
        session.execute(
            insert(ChatLink),
            [
                {
                    "platform": "telegram",
                    "chat_id": str(900_000_000 + n),
                    "customer_id": customer_id,
                    "language": "id",
                    "linked_by": "token",
                    "created_at": now,
                }
                for n, customer_id in enumerate(ids)
            ],
        )
    with db.engine.connect() as connection:
        connection.execution_options(isolation_level="AUTOCOMMIT").execute(text("ANALYZE"))


def timed(label: str, runs: int, work, count=None) -> None:
    walls = []
    for _ in range(runs):
        started = time.perf_counter()
        made = work()
        walls.append(time.perf_counter() - started)
    count = made if count is None else count()
    print(
        f"{label:<13} {count} notices: median {statistics.median(walls) * 1000:7.0f} ms, "
        f"best {min(walls) * 1000:7.0f} ms, worst {max(walls) * 1000:7.0f} ms ({runs} runs)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with scratch_database("announce") as url:
        db = Database(url)
        try:
            print_machine(url)
            fill(db, args.customers)
            print(f"database  PostgreSQL, {args.customers} customers with a linked Telegram chat")
            staff_id = db.run(
                lambda s: create_staff(s, "bench", secrets.token_urlsafe(24), actor="bench").id
            )
            staff = Actor.staff(staff_id, "bench")
            posted: list[int] = []

            def announce() -> int:
                def work(session):
                    now = utcnow()
                    announcement = post_announcement(
                        session,
                        staff,
                        text="Gangguan jaringan malam ini pukul 22.00 sampai 23.00.",
                        starts_at=now,
                        ends_at=now + timedelta(days=1),
                    )
                    posted.append(announcement.id)

                db.run(work)
                return None

            def broadcast() -> int:
                def work(session):
                    sent, _ = send_broadcast(
                        session, staff, form_key=secrets.token_hex(8), text="Promo paket malam."
                    )
                    return sent.recipients

                return db.run(work)

            def notices_of_the_last() -> int:
                with db.transaction() as session:
                    return session.execute(
                        select(func.count(Notice.id)).where(
                            Notice.key.like(f"announcement:{posted[-1]}:%")
                        )
                    ).scalar_one()

            timed("announcement", args.runs, announce, notices_of_the_last)
            timed("broadcast", args.runs, broadcast)
            started, routed = time.perf_counter(), 0
            while True:
                done = db.run(lambda s: route_notices(s, limit=200))
                if not done:
                    break
                routed += done
            wall = time.perf_counter() - started
            print(
                f"routing       {routed} notices into deliveries (the worker, 200 a "
                f"transaction): {wall:.1f} s, {routed / wall:.0f}/s"
            )
        finally:
            db.dispose()


if __name__ == "__main__":
    main()
