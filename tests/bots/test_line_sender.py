"""The LINE sender of the outbox worker: pushes through line-bot-sdk's real asyncio client
to the loopback fake LINE Platform (tests/bots/fake_line.py, standing for LINE)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest

from bots.chat import Button
from bots.delivery import DeliveryWorker, RetryLater, Undeliverable, senders_from
from bots.line import LineSender, retry_key
from messaging.chats import issue_link_token, redeem_link_token
from pulsa.settings import load_settings
from tests.bots.fake_line import FakeLine, new_user_id
from tests.bots.outbox_builders import deliveries_of, enqueue_texts, run, statuses
from tests.conftest import make_account
from wallet.models import Account

pytest_plugins = ["tests.bots.outbox_builders"]


def line_settings(fake: FakeLine, **more: str):
    return load_settings(
        {"PULSA_DATABASE_URL": "sqlite:///unused.db", **fake.environment(), **more}
    )


@pytest.fixture
def fake() -> Iterator[FakeLine]:
    with FakeLine() as line:
        yield line


def test_the_sender_pushes_through_the_sdk_with_the_notices_retry_key(fake):
    sender = LineSender(line_settings(fake))
    user = new_user_id()

    async def send_twice():
        try:
            await sender.send(user, "Pembayaran dikonfirmasi", key="payment-7-confirmed")
            # A crash before the notice was marked sent: the worker sends it again.
            await sender.send(user, "Pembayaran dikonfirmasi", key="payment-7-confirmed")
        finally:
            await sender.close()

    asyncio.run(send_twice())

    [push] = fake.pushes
    assert push.to == user and push.texts == ["Pembayaran dikonfirmasi"]
    assert push.retry_key == retry_key("payment-7-confirmed#0")
    assert [c.endpoint for c in fake.calls] == ["push", "push"]  # the second got 409


def test_the_sender_renders_buttons_as_quick_replies(fake):
    sender = LineSender(line_settings(fake))
    user = new_user_id()

    async def send():
        try:
            await sender.send(
                user, "Paket berakhir besok", buttons=((Button("Beli lagi", "buy:3"),),)
            )
        finally:
            await sender.close()

    asyncio.run(send())

    [push] = fake.pushes
    assert push.quick_reply_data() == ["buy:3"]


def _send(fake: FakeLine, chat: str | None = None, **more):
    sender = LineSender(line_settings(fake, **more))

    async def send():
        try:
            await sender.send(chat or new_user_id(), "Saldo rendah")
        finally:
            await sender.close()

    asyncio.run(send())


def test_a_rate_limit_is_retry_later_as_long_as_line_says():
    with FakeLine() as fake:
        fake.fail_next("push", 429, retry_after=7)
        with pytest.raises(RetryLater) as later:
            _send(fake)
        fake.fail_next("push", 429)
        with pytest.raises(RetryLater) as soon:
            _send(fake)
        fake.fail_next("push", 429, "You have reached your monthly limit.")
        with pytest.raises(RetryLater) as month:
            _send(fake)
    assert [e.value.seconds for e in (later, soon, month)] == [7, 1, 3600]
    assert all(e.value.rate_limited for e in (later, soon, month))  # no failed attempt


def test_a_message_line_refuses_for_good_is_undeliverable(fake):
    with pytest.raises(Undeliverable) as refused:
        _send(fake, chat="not-a-line-user")

    assert "'to'" in str(refused.value)
    assert fake.pushes == []


@pytest.mark.parametrize("trouble", ["down", "500", "wrong token"])
def test_line_unreachable_or_failing_is_retry_later(fake, trouble):
    if trouble == "down":
        fake.go_down()
    elif trouble == "500":
        fake.fail_next("push", 500)
    more = {"PULSA_LINE_ACCESS_TOKEN": "revoked"} if trouble == "wrong token" else {}

    with pytest.raises(RetryLater) as later:
        _send(fake, **more)

    # Down or failing: backed off; a refused token: everything waits five minutes.
    assert (later.value.seconds, later.value.rate_limited) == (
        (300.0, True) if trouble == "wrong token" else (None, False)
    )


# --- with the outbox worker -------------------------------------------------------------------


def linked_line_customer(db) -> tuple[int, str]:
    """A customer whose LINE chat is linked (by the code, as the chat would send it)."""
    account_id = make_account(db, name="LINE Customer")
    customer_id = db.run(lambda s: s.get(Account, account_id).customer_id)
    user = new_user_id()

    def link(session):
        code, _ = issue_link_token(session, "line", actor="test", customer_id=customer_id)
        redeem_link_token(session, "line", user, code, language="id")

    db.run(link)
    return customer_id, user


def line_worker(db, fake: FakeLine, **options) -> DeliveryWorker:
    options.setdefault("backoff_base", 0.05)
    options.setdefault("backoff_cap", 0.2)
    options.setdefault("poll_interval", 0.05)
    return DeliveryWorker(db, senders_from(line_settings(fake)), **options)


def test_senders_from_the_settings_include_line_only_when_configured(fake):
    assert [s.platform for s in senders_from(line_settings(fake))] == ["line"]
    off = line_settings(fake, PULSA_LINE_CHANNEL_SECRET="", PULSA_LINE_ACCESS_TOKEN="")
    assert senders_from(off) == []


def test_the_worker_pushes_a_notice_to_the_linked_line_chat_once_after_line_was_down(
    clean_outbox, fake
):
    db = clean_outbox
    customer_id, user = linked_line_customer(db)
    keys = enqueue_texts(db, customer_id, ["Saldo Anda hampir habis", "Paket berakhir besok"])
    fake.go_down()

    async def scenario():
        worker = line_worker(db, fake)
        stop = asyncio.Event()
        running = asyncio.create_task(worker.run(stop))
        deadline = time.monotonic() + 10
        while worker.stats.retried < 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)  # knocking on a closed door
        fake.come_up()
        while len(fake.pushes) < 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)  # anything extra would show now
        stop.set()
        await running
        return worker.stats

    stats = run(scenario())

    assert stats.retried >= 2
    assert sorted(fake.texts(user)) == ["Paket berakhir besok", "Saldo Anda hampir habis"]
    assert set(statuses(db, keys).values()) == {"sent"}


def test_a_line_delivery_whose_worker_died_is_sent_again_and_shown_once(clean_outbox, fake):
    """LINE is idempotent (X-Line-Retry-Key): a delivery claimed by a worker that died
    after its push reached LINE is sent again with the same key, and LINE shows it once."""
    from messaging.outbox import claim_deliveries, route_notices
    from wallet.ledger import utcnow

    db = clean_outbox
    customer_id, user = linked_line_customer(db)
    (key,) = enqueue_texts(db, customer_id, ["Pembayaran Anda dikonfirmasi"])
    db.run(route_notices)
    (delivery,) = deliveries_of(db, key)
    db.run(
        lambda s: claim_deliveries(s, [delivery.id], "dead-worker", utcnow() - timedelta(seconds=1))
    )
    # The dead worker's push had reached LINE.
    dead = LineSender(line_settings(fake))

    async def push_then_close():
        try:
            await dead.send(
                user, "Pembayaran Anda dikonfirmasi", key=f"pulsa-delivery-{delivery.id}"
            )
        finally:
            await dead.close()

    run(push_then_close())

    run(line_worker(db, fake).drain(timeout=10))

    assert fake.texts(user) == ["Pembayaran Anda dikonfirmasi"]
    assert [c.status for c in fake.calls if c.endpoint == "push"] == [200, 409]
    (delivery,) = deliveries_of(db, key)
    assert delivery.status == "sent"
