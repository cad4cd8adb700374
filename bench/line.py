"""The LINE bot with many chats writing at once: how fast the webhook answers LINE, and how
long a customer waits for the answer.

    python bench/line.py [--chats 50] [--messages 10] [--sqlite] [--in-process [--threads 8]]

Creates its own PostgreSQL database (dropped at the end; server from PULSA_BENCH_PG or
PULSA_TEST_PG, default postgresql+psycopg://postgres@127.0.0.1:5432; `--sqlite`: a SQLite
file instead), migrates it and makes `--chats` customers with a wallet and a linked LINE
chat each. pulsa's LINE webhook (bots.line.LineWebhook with the real dialogue) is served
by `pulsa bot --line-port` in a process of its own (waitress, as the portal's server
serves it; `--in-process`: in the bench's process, with `--threads` threads), and the
Messaging API is the loopback fake of tests/bots/fake_line.py (standing for LINE). Each
chat is a thread that sends `--messages` signed webhooks, one text event each (`/saldo`
and `/riwayat` in turn: the balance, the last transactions), and waits for the reply to
arrive at the fake before sending the next one; all chats write at once. Each chat's first
message (all 50 at the same moment, on a server that has just started) is timed apart.

  webhook answer   from the webhook request sent until LINE has its 200
  reply            from the webhook request sent until the reply arrived at LINE (what the
                   customer waits for; the issue asks for every answer within 2 s)

Clients, server, fake and database share the machine: compare ratios with the baseline.
"""

from __future__ import annotations

import argparse
import os
import platform
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
# The server the databases are made on (tests.databases reads it when imported).
if "PULSA_BENCH_PG" in os.environ:
    os.environ["PULSA_TEST_PG"] = os.environ["PULSA_BENCH_PG"]

from authorize import cpu_model

from bots.line import WEBHOOK_PATH, LineWebhook
from messaging.chats import issue_link_token, redeem_link_token
from pulsa.settings import load_settings
from pulsa.web_server import start_web_server, with_mounted
from tests.bots.fake_line import FakeLine, new_user_id
from tests.databases import create_database, drop_database
from wallet import ledger
from wallet.customers import create_customer
from wallet.db import Database
from wallet.migrate import upgrade


def make_chats(db: Database, count: int) -> list[str]:
    """`count` customers with a topped-up wallet and a linked LINE chat; their user ids."""
    users = []
    for n in range(count):
        user = new_user_id()

        def work(session, n=n, user=user):
            customer, account = create_customer(session, f"Chat Customer {n}", currency="IDR")
            for k in range(5):
                ledger.top_up(session, account.id, 20_000 * 10**6, key=f"bench-line:{user}:{k}")
            code, _ = issue_link_token(session, "line", actor="bench", customer_id=customer.id)
            redeem_link_token(session, "line", user, code, language="id")

        db.run(work)
        users.append(user)
    return users


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_bot(settings, port: int) -> subprocess.Popen:
    """`pulsa bot --line-port PORT` with the bench's settings, once its port answers."""
    environment = {
        **os.environ,
        "PYTHONPATH": str(Path(__file__).resolve().parent.parent),
        "PULSA_DATABASE_URL": settings.database_url,
        "PULSA_UPLOAD_FOLDER": settings.upload_folder,
        "PULSA_PORTAL_URL": settings.portal_url,
        "PULSA_LINE_CHANNEL_SECRET": settings.line_channel_secret,
        "PULSA_LINE_ACCESS_TOKEN": settings.line_access_token,
        "PULSA_LINE_API_URL": settings.line_api_url,
        "PULSA_LOG_LEVEL": "ERROR",
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from pulsa.cli import main; main()",
            "bot",
            "--line-port",
            str(port),
        ],
        env=environment,
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"pulsa bot ended with {process.returncode}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return process
        time.sleep(0.1)
    process.kill()
    raise SystemExit("pulsa bot did not listen within 2 minutes")


def process_cpu(pid: int) -> float:
    """CPU seconds (user and system) a process has used, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def baseline() -> str:
    rates = []
    for _ in range(3):
        started, total = time.process_time(), 0
        for n in range(2_000_000):
            total += n
        rates.append(2.0 / (time.process_time() - started))
    return f"baseline  a plain Python loop {max(rates):.1f} M iterations/s"


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def run(args: argparse.Namespace, url: str) -> None:
    upgrade(url)
    db = Database(url, pool_size=args.threads + 4)
    users = make_chats(db, args.chats)
    with FakeLine() as fake, tempfile.TemporaryDirectory() as uploads:
        settings = load_settings(
            {
                "PULSA_DATABASE_URL": url,
                "PULSA_UPLOAD_FOLDER": uploads,
                "PULSA_PORTAL_URL": "https://portal.example.net",
                **fake.environment(),
            }
        )
        if args.in_process:
            webhook = LineWebhook(settings, db, workers=args.threads)
            server = start_web_server(
                with_mounted(lambda e, s: [], {WEBHOOK_PATH: webhook}),
                settings,
                host="127.0.0.1",
                port=0,
                name="bench-line",
                threads=args.threads,
            )
            port, process = server.effective_port, None
        else:
            port = free_port()
            process = start_bot(settings, port)
        address = f"http://127.0.0.1:{port}{WEBHOOK_PATH}"
        answers: list[float] = []
        replies: list[float] = []
        warmed: list[float] = []
        problems: list[str] = []
        lock = threading.Lock()
        go = threading.Event()

        def chat(user: str) -> None:
            go.wait()
            for n in range(-1, args.messages):
                event = fake.text_event(user, "/saldo" if n % 2 == 0 else "/riwayat")
                started = time.monotonic()
                status, _, took = fake.deliver(address, [event], timeout=30)
                try:
                    reply = fake.wait_for_reply(event["replyToken"], timeout=30)
                except AssertionError as error:
                    with lock:
                        problems.append(str(error))
                    continue
                with lock:
                    if status != 200:
                        problems.append(f"webhook answered {status}")
                    if n < 0:
                        warmed.append(reply.at - started)
                        continue  # each chat's first message warms up, unmeasured
                    answers.append(took)
                    replies.append(reply.at - started)

        threads = [threading.Thread(target=chat, args=(user,)) for user in users]
        for thread in threads:
            thread.start()
        cpu_before = process_cpu(process.pid) if process else None
        started = time.monotonic()
        go.set()
        for thread in threads:
            thread.join()
        elapsed = time.monotonic() - started
        server_cpu = process_cpu(process.pid) - cpu_before if process else None
        if process is not None:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=60)
        else:
            server.close()
            webhook.close()
    db.dispose()
    load = os.getloadavg()
    print(f"python    {platform.python_version()} on {cpu_model()}, {os.cpu_count()} cores")
    print(baseline())
    print(f"load      {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")
    print(
        f"run       {args.chats} chats x {args.messages} messages on {url.split(':')[0]}, "
        f"{args.threads} server threads: {len(replies)} replies in {elapsed:.1f} s, "
        f"{len(replies) / elapsed:.1f} replies/s"
    )
    where = "in this process" if args.in_process else "pulsa bot --line-port, a process of its own"
    print(f"server    {where}")
    if server_cpu is not None and replies:
        measured = len(replies) + len(warmed)
        print(
            f"server CPU {server_cpu / measured * 1000:.1f} ms per reply "
            f"({server_cpu / elapsed:.0%} of a core while the chats wrote)"
        )
    for name, values in (("webhook answer", answers), ("reply", replies)):
        if values:
            print(
                f"{name:<15} p50 {statistics.median(values) * 1000:6.0f} ms   "
                f"p99 {percentile(values, 0.99) * 1000:6.0f} ms   "
                f"max {max(values) * 1000:6.0f} ms"
            )
    if warmed:
        print(
            f"first messages  p50 {statistics.median(warmed) * 1000:6.0f} ms   "
            f"max {max(warmed) * 1000:6.0f} ms (all chats at once, cold; not counted above)"
        )
    over = sum(1 for value in replies if value > 2.0)
    print(f"replies over 2 s: {over} of {len(replies)}")
    if problems:
        print(f"problems  {len(problems)}: {problems[:3]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chats", type=int, default=50)
    parser.add_argument("--messages", type=int, default=10)
    parser.add_argument("--threads", type=int, default=8)

    parser.add_argument("--sqlite", action="store_true", help="SQLite instead of PostgreSQL")
    parser.add_argument(
        "--in-process",
        action="store_true",
        help="serve the webhook in the bench's process (sharing its GIL with the clients)",
    )
    args = parser.parse_args()
    backend = "sqlite" if args.sqlite else "postgresql"
    with tempfile.TemporaryDirectory() as folder:
        url = create_database(backend, Path(folder), label=f"bench_line_{secrets.token_hex(2)}")
        try:
            run(args, url)
        finally:
            drop_database(url)


if __name__ == "__main__":
    main()
