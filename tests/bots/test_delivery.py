"""The outbox worker against the fake Bot API (it stands for Telegram): every notice
reaches each chat of its recipient once, whatever the Bot API does meanwhile."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter
from datetime import timedelta

import pytest

from bots.delivery import DeliveryWorker, TelegramSender
from messaging.chats import find_link, mark_chat_blocked, reachable_again
from messaging.outbox import CHAT_BLOCKED
from tests.bots.fake_telegram import FakeBotApi
from tests.bots.outbox_builders import (
    deliveries_of,
    enqueue_texts,
    linked_customer,
    run,
    statuses,
)

pytest_plugins = ["tests.bots.outbox_builders"]


@pytest.fixture
def api():
    with FakeBotApi() as fake:
        yield fake


def quick_sender(api: FakeBotApi, **pace) -> TelegramSender:
    """Telegram's sender, with the per-chat pace lifted unless a test is about it."""
    pace.setdefault("per_chat_per_second", 1000.0)
    pace.setdefault("per_second", 1000.0)
    pace.setdefault("timeout", 2.0)
    return TelegramSender(api.token, api.api_url, **pace)


def worker(db, sender, **options) -> DeliveryWorker:
    options.setdefault("backoff_base", 0.05)
    options.setdefault("backoff_cap", 0.2)
    options.setdefault("poll_interval", 0.05)
    return DeliveryWorker(db, [sender], **options)


def test_every_notice_arrives_once_after_the_bot_api_was_unreachable_for_a_while(clean_outbox, api):
    db = clean_outbox
    customers = [linked_customer(db) for _ in range(5)]
    keys = []
    for customer_id, _ in customers:
        keys += enqueue_texts(
            db, customer_id, [f"notice {customer_id} a", f"notice {customer_id} b"]
        )
    api.go_down()

    async def scenario():
        delivery = worker(db, quick_sender(api))
        stop = asyncio.Event()
        running = asyncio.create_task(delivery.run(stop))
        await asyncio.sleep(0.6)  # the worker knocks on a closed door meanwhile
        assert api.calls == []
        api.come_up()
        await asyncio.sleep(0)
        deadline = time.monotonic() + 10
        while len(api.messages()) < len(keys) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)  # anything extra would show now
        stop.set()
        await running
        return delivery.stats

    stats = run(scenario())
    assert stats.retried >= 1
    received = Counter((call.chat_id, call.text) for call in api.messages())
    expected = {
        (chat_ids[0], f"notice {customer_id} {letter}")
        for customer_id, chat_ids in customers
        for letter in "ab"
    }
    assert set(received) == expected
    assert set(received.values()) == {1}
    assert set(statuses(db, keys).values()) == {"sent"}


def test_a_429_makes_the_worker_wait_its_retry_after_then_deliver_once(clean_outbox, api):
    db = clean_outbox
    customer_id, (chat_id,) = linked_customer(db)
    (key,) = enqueue_texts(db, customer_id, ["after the flood"])
    api.fail_next("sendMessage", error_code=429, retry_after=1)

    run(worker(db, quick_sender(api)).drain(timeout=10))

    attempts = api.calls
    assert [c.status for c in attempts if c.method == "sendMessage"] == [429, 200]
    refused, accepted = (c for c in attempts if c.method == "sendMessage")
    assert accepted.at - refused.at >= 1.0
    assert api.texts(chat_id) == ["after the flood"]
    (delivery,) = deliveries_of(db, key)
    assert delivery.status == "sent" and delivery.attempts == 1  # a 429 is not a failure


def test_a_chat_that_blocked_the_bot_fails_at_once_and_is_not_tried_again(clean_outbox, api):
    db = clean_outbox
    customer_id, (blocked, fine) = linked_customer(db, chats=2)
    (key,) = enqueue_texts(db, customer_id, ["your payment is confirmed"])
    api.block(blocked)

    run(worker(db, quick_sender(api)).drain(timeout=10))

    assert len([c for c in api.calls if c.chat_id == blocked]) == 1
    assert api.texts(fine) == ["your payment is confirmed"]
    by_chat = {d.chat_id: d for d in deliveries_of(db, key)}
    assert by_chat[str(blocked)].status == "failed"
    assert "blocked by the user" in by_chat[str(blocked)].last_error
    assert by_chat[str(fine)].status == "sent"
    assert statuses(db, [key]) == {key: "failed"}


def test_a_chat_that_blocked_the_bot_is_not_pushed_to_again_until_it_writes(clean_outbox, api):
    db = clean_outbox
    customer_id, (blocked, fine) = linked_customer(db, chats=2)
    (first,) = enqueue_texts(db, customer_id, ["first notice"])
    api.block(blocked)
    run(worker(db, quick_sender(api)).drain(timeout=10))
    tried = len([c for c in api.calls if c.chat_id == blocked])

    (second,) = enqueue_texts(db, customer_id, ["second notice"])
    run(worker(db, quick_sender(api)).drain(timeout=10))

    assert len([c for c in api.calls if c.chat_id == blocked]) == tried  # not pushed again
    by_chat = {d.chat_id: d for d in deliveries_of(db, second)}
    assert by_chat[str(blocked)].status == "failed"
    assert by_chat[str(blocked)].last_error == CHAT_BLOCKED
    assert by_chat[str(blocked)].attempts == 0
    assert api.texts(fine) == ["first notice", "second notice"]

    # The person unblocks the bot and writes to it: notices reach the chat again.
    api.unblock(blocked)
    db.run(lambda s: reachable_again(find_link(s, "telegram", str(blocked))))
    (third,) = enqueue_texts(db, customer_id, ["third notice"])
    run(worker(db, quick_sender(api)).drain(timeout=10))

    assert api.texts(blocked) == ["third notice"]
    assert set(statuses(db, [first, second, third]).values()) == {"failed", "sent"}
    assert statuses(db, [third]) == {third: "sent"}


def test_a_notice_whose_only_chat_blocked_the_bot_fails_without_a_push(clean_outbox, api):
    db = clean_outbox
    customer_id, (chat_id,) = linked_customer(db)
    db.run(lambda s: mark_chat_blocked(s, "telegram", str(chat_id)))
    (key,) = enqueue_texts(db, customer_id, ["nobody will read this"])

    run(worker(db, quick_sender(api)).drain(timeout=10))

    assert api.messages() == []
    assert statuses(db, [key]) == {key: "failed"}


def test_the_worker_keeps_telegrams_pace_per_chat_so_flood_control_never_answers_429(clean_outbox):
    db = clean_outbox
    with FakeBotApi(flood_control=True) as api:
        customer_id, (chat_id,) = linked_customer(db)
        others = [linked_customer(db) for _ in range(4)]
        enqueue_texts(db, customer_id, ["one", "two", "three"])
        for other_id, _ in others:
            enqueue_texts(db, other_id, ["hello"])

        run(worker(db, TelegramSender(api.token, api.api_url)).drain(timeout=15))

        assert [c.status for c in api.calls if c.method == "sendMessage"].count(429) == 0
        assert api.texts(chat_id) == ["one", "two", "three"]
        times = [c.at for c in api.messages(chat_id)]
        assert all(later - earlier >= 0.95 for earlier, later in itertools.pairwise(times))
        assert len(api.messages()) == 7


def test_a_lost_answer_is_never_sent_again_but_shown_as_uncertain(clean_outbox, api):
    db = clean_outbox
    customer_id, (chat_id,) = linked_customer(db)
    (key,) = enqueue_texts(db, customer_id, ["maybe"])
    api.latency = 1.5  # longer than the sender waits for an answer

    run(worker(db, quick_sender(api, timeout=0.5)).drain(timeout=10))

    time.sleep(1.2)  # the fake finishes the request it was given
    assert api.texts(chat_id) == ["maybe"]  # it did arrive ...
    (delivery,) = deliveries_of(db, key)
    assert delivery.status == "uncertain"  # ... and is not sent a second time
    assert len([c for c in api.calls if c.method == "sendMessage"]) == 1


def test_an_expired_claim_becomes_uncertain_and_is_not_sent(clean_outbox, api):
    from messaging.outbox import claim_deliveries, route_notices
    from wallet.ledger import utcnow

    db = clean_outbox
    customer_id, _ = linked_customer(db)
    (key,) = enqueue_texts(db, customer_id, ["claimed by a worker that died"])
    db.run(route_notices)
    (delivery,) = deliveries_of(db, key)
    db.run(
        lambda s: claim_deliveries(s, [delivery.id], "dead-worker", utcnow() - timedelta(seconds=1))
    )

    run(worker(db, quick_sender(api)).drain(timeout=10))

    assert api.messages() == []
    (delivery,) = deliveries_of(db, key)
    assert delivery.status == "uncertain"
    assert statuses(db, [key]) == {key: "failed"}


def test_a_worker_killed_in_the_middle_of_a_batch_and_restarted_loses_nothing_and_repeats_nothing(
    clean_outbox,
):
    import os
    import signal
    import subprocess
    import sys

    from tests.conftest import REPO

    db = clean_outbox
    customers = [linked_customer(db) for _ in range(20)]
    keys = []
    for customer_id, _ in customers:
        keys += enqueue_texts(db, customer_id, [f"n{customer_id}-{i}" for i in range(10)])
    environment = {**os.environ, "PYTHONPATH": str(REPO)}

    def start_worker(api):
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.bots.delivery_process", db.url, api.api_url, api.token],
            cwd=REPO,
            env=environment,
            stdout=subprocess.PIPE,
        )
        assert process.stdout.readline() == b"running\n"
        return process

    # Each request takes a while, so that several are in flight at the kill.
    with FakeBotApi(latency=0.02) as api:
        first = start_worker(api)
        try:
            api.wait_for_messages(60, timeout=30)
        finally:
            first.send_signal(signal.SIGKILL)
            first.wait()
        at_the_kill = len(api.messages())
        assert at_the_kill < len(keys), "the kill came after the batch: nothing was tested"
        second = start_worker(api)
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                if "pending" not in statuses(db, keys).values():
                    break
                time.sleep(0.1)
        finally:
            second.terminate()
            second.wait(timeout=20)

        final = statuses(db, keys)
        received = Counter(call.text for call in api.messages())
        texts = {key: key.split(":", 3)[3] for key in keys}
        # Nothing twice.
        assert max(received.values()) == 1
        # Nothing lost: every notice was delivered, or (only those in flight at the kill:
        # the worker cannot know whether Telegram took them) is shown as uncertain.
        uncertain = [key for key, status in final.items() if status == "failed"]
        assert len(uncertain) <= 8  # the worker's concurrency
        for key in keys:
            if key not in uncertain:
                assert final[key] == "sent" and received[texts[key]] == 1, key
            else:
                (delivery,) = deliveries_of(db, key)
                assert delivery.status == "uncertain"
        assert len(api.messages()) > at_the_kill  # the second worker did deliver the rest
