"""Unread counts and conversation pages on PostgreSQL, with many conversations.

    python bench/messaging.py [--customers 10000] [--conversations 20000]
                              [--messages 10] [--runs 200]

Creates its own PostgreSQL database (dropped at the end; server from PULSA_BENCH_PG or
PULSA_TEST_PG, default postgresql+psycopg://postgres@127.0.0.1:5432), migrates it and
fills it with bare inserts: `--conversations` conversations spread over `--customers`
customers, each with `--messages` messages alternating customer and staff, a tenth of
them with the customer's last message unread. Then, `--runs` times each, it times what
the pages ask on every request (p50 and p95, ms):

  staff unread      the count on the admin's menu (every admin page)
  customer unread   the count on the portal's menu (every portal page)
  admin open list   a page of 50 open conversations with their unread counts
  poll              the messages after the last one a conversation page shows
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
from sqlalchemy import insert, select, text

from messaging.actors import Actor
from messaging.conversations import (
    conversations_with_status,
    get_conversation,
    messages_of,
    unread_by_conversation,
    unread_count,
)
from messaging.models import Conversation, Message
from wallet.db import Database
from wallet.ledger import utcnow
from wallet.models import Customer
from wallet.staff import create_staff


def fill(db: Database, customers: int, conversations: int, per: int) -> None:
    now = utcnow()
    with db.transaction() as session:
        session.execute(
            insert(Customer),
            [{"name": f"Customer {n}", "created_at": now} for n in range(customers)],
        )
        first = session.execute(text("SELECT min(id) FROM customers")).scalar_one()
    message_id = 0
    batch = 2000
    for start in range(0, conversations, batch):
        rows, messages = [], []
        for n in range(start, min(start + batch, conversations)):
            unread = n % 10 == 0
            last = message_id + per
            rows.append(
                {
                    "id": n + 1,
                    "customer_id": first + n % customers,
                    "contact_label": "",
                    "topic": "internet",
                    "status": ("open", "waiting", "closed")[n % 3] if not unread else "open",
                    "channel": "portal",
                    "customer_read_message_id": last,
                    "staff_read_message_id": last - 1 if unread else last,
                    "customer_unread": 0,
                    "staff_unread": 1 if unread else 0,
                    "created_at": now - timedelta(minutes=conversations - n),
                    "last_message_at": now - timedelta(minutes=conversations - n),
                }
            )
            for k in range(per):
                message_id += 1
                from_customer = k % 2 == 0 or (unread and k == per - 1)
                messages.append(
                    {
                        "id": message_id,
                        "conversation_id": n + 1,
                        "author_kind": "customer" if from_customer else "staff",
                        "channel": "portal",
                        "text": "Internet saya mati sejak pagi, mohon dibantu",
                        "created_at": now,
                    }
                )
        with db.transaction() as session:
            session.execute(insert(Conversation), rows)
            session.execute(insert(Message), messages)
    with db.engine.connect() as connection:
        connection.execution_options(isolation_level="AUTOCOMMIT").execute(text("ANALYZE"))
        for table in ("conversations", "conversation_messages"):
            sequence = f"pg_get_serial_sequence('{table}', 'id')"
            connection.execute(text(f"SELECT setval({sequence}, (SELECT max(id) FROM {table}))"))


def timed(label: str, runs: int, work) -> None:
    walls = []
    for _ in range(runs):
        started = time.perf_counter()
        work()
        walls.append(time.perf_counter() - started)
    walls.sort()
    p95 = walls[max(0, int(len(walls) * 0.95) - 1)]
    print(f"{label:<18} p50 {statistics.median(walls) * 1000:6.2f} ms   p95 {p95 * 1000:6.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--conversations", type=int, default=20_000)
    parser.add_argument("--messages", type=int, default=10)
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    with scratch_database("messaging") as url:
        db = Database(url)
        try:
            print_machine(url)
            started = time.perf_counter()
            fill(db, args.customers, args.conversations, args.messages)
            total = args.conversations * args.messages
            print(
                f"database  PostgreSQL, {args.conversations} conversations of {args.customers} "
                f"customers, {total} messages (filled in {time.perf_counter() - started:.0f} s)"
            )
            staff_id = db.run(
                lambda s: create_staff(s, "bench", secrets.token_urlsafe(24), actor="bench").id
            )
            staff = Actor.staff(staff_id, "bench")
            with db.transaction() as session:
                busiest = session.execute(
                    select(Conversation.customer_id).order_by(Conversation.id).limit(1)
                ).scalar_one()
            customer = Actor.customer(busiest)

            def read(work):
                def run():
                    with db.transaction() as session:
                        return work(session)

                return run

            def open_list(session):
                page = list(session.execute(conversations_with_status("open").limit(50)).scalars())
                return unread_by_conversation(session, staff, [c.id for c in page])

            def poll(session):
                conversation = get_conversation(session, customer, 1)
                return messages_of(session, conversation, 10**12)

            with db.transaction() as session:
                counted = unread_count(session, staff)
            print(f"check     staff unread {counted} (expected {args.conversations // 10})")
            timed("staff unread", args.runs, read(lambda s: unread_count(s, staff)))
            timed("customer unread", args.runs, read(lambda s: unread_count(s, customer)))
            timed("admin open list", args.runs, read(open_list))
            timed("poll", args.runs, read(poll))
        finally:
            db.dispose()


if __name__ == "__main__":
    main()
