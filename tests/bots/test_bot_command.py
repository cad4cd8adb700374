"""`pulsa bot`: nothing to do without a chat platform; with one, it delivers the outbox
and a SIGTERM lets the requests in flight finish (nothing left uncertain)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from tests.bots.fake_telegram import FakeBotApi
from tests.bots.outbox_builders import enqueue_texts, linked_customer, statuses
from tests.conftest import REPO

pytest_plugins = ["tests.bots.outbox_builders"]


def pulsa(args, environment, **options):
    return subprocess.Popen(
        [sys.executable, "-c", "from pulsa.cli import main; main()", *args],
        cwd=REPO,
        env={**environment, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        **options,
    )


def clean_environment(**values) -> dict:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("PULSA_")}
    environment.update({k: v for k, v in os.environ.items() if k.startswith("PULSA_TEST")})
    environment.update(values)
    return environment


def test_without_a_chat_platform_pulsa_bot_says_so_and_ends(clean_outbox):
    process = pulsa(["bot"], clean_environment(PULSA_DATABASE_URL=clean_outbox.url))
    out, _ = process.communicate(timeout=60)
    assert process.returncode == 0
    assert b"no chat platform configured" in out


def test_pulsa_bot_delivers_the_outbox_and_stops_cleanly_on_sigterm(clean_outbox):
    db = clean_outbox
    customers = [linked_customer(db) for _ in range(3)]
    keys = []
    for customer_id, _ in customers:
        keys += enqueue_texts(db, customer_id, [f"hello {customer_id}"])
    with FakeBotApi() as api:
        process = pulsa(
            ["bot"],
            clean_environment(
                PULSA_DATABASE_URL=db.url,
                PULSA_TELEGRAM_TOKEN=api.token,
                PULSA_TELEGRAM_API_URL=api.api_url,
            ),
        )
        try:
            assert process.stdout.readline().startswith(b"delivering chat notices to telegram")
            api.wait_for_messages(3, timeout=30)
            deadline = time.monotonic() + 10
            while set(statuses(db, keys).values()) != {"sent"} and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)
        assert process.returncode == 0
        assert sorted(api.texts()) == sorted(f"hello {c}" for c, _ in customers)
        assert set(statuses(db, keys).values()) == {"sent"}
