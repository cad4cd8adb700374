"""Whole flows through the real python-telegram-bot client (bots.telegram) against the
loopback fake Bot API (tests/bots/fake_telegram.py, standing for Telegram), with the
outbox worker running beside the bot: link, balance, a package bought, a top-up with the
photo of the receipt confirmed by staff, a complaint answered by staff, an update
delivered twice. Every reply comes within two seconds (the issue's promise)."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from bots.delivery import DeliveryWorker, TelegramSender
from bots.telegram import TelegramBot, webhook_secret
from messaging.actors import Actor
from messaging.announcements import post_announcement
from messaging.chats import bot_username, find_link, issue_link_token
from messaging.conversations import open_conversation, post_message
from messaging.models import Conversation, Notice
from messaging.notifications import KINDS, STAFF_REPLY, save_choices
from pulsa.settings import load_settings
from tests.bots.builders import RUPIAH, a_bank_account, make_package
from tests.bots.fake_telegram import FakeBotApi
from tests.hotspot.builders import balance_of, make_login
from tests.messaging.builders import PNG, make_staff_actor
from tests.webadmin.conftest import AdminClient, make_staff, signed_in
from wallet.db import Database
from wallet.hotspot_models import Subscription
from wallet.internet import buy_package
from wallet.ledger import utcnow
from wallet.models import Account
from wallet.payments import PaymentRequest, confirm_payment
from webadmin import create_app as create_admin_app

pytest_plugins = ["tests.bots.outbox_builders"]

# Seconds. Issue 15 asks every answer within 2 s: bench/bot.py measures that (p50/p99 with
# 50 chats). A test only catches an answer that hangs: a time limit as tight as the
# target fails on a loaded machine for nothing.
REPLY_WITHIN = 10.0
_chats = itertools.count(880_000_001)
# A bot of its own per test: the fake numbers updates from 1 each time, and pulsa keys
# handled updates by (bot id, update id) as Telegram makes them unique.
_bot_ids = itertools.count(7_100_000_001)


class LoopThread:
    """An asyncio loop in a thread of its own, so that the tests stay plain functions."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coroutine, timeout: float = 30.0):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


class Telegram:
    """The fake Bot API with pulsa's bot and outbox worker attached to it; `say` is a
    person writing in a chat and waiting for the bot's answer."""

    def __init__(self, api: FakeBotApi, db: Database, settings) -> None:
        self.api, self.db, self.settings = api, db, settings
        self.latencies: list[float] = []

    def say(self, chat_id: int, text: str | None = None, *, expect: int = 1, **push) -> list:
        """Push what the person does (text, or `photo=`, `contact=`, `button=`) and
        return the bot's new messages to the chat, timing the first one."""
        before = len(self.api.messages(chat_id))
        started = time.time()  # the fake stamps its calls with time.time()
        if "photo" in push:
            self.api.push_photo(chat_id, push.pop("photo"), **push)
        elif "contact" in push:
            self.api.push_contact(chat_id, push.pop("contact"), **push)
        elif "button" in push:
            self.api.push_callback(chat_id, push.pop("button"), **push)
        else:
            self.api.push_text(chat_id, text, **push)
        return self.wait(chat_id, before, started, expect)

    def wait(
        self, chat_id: int, before: int, started: float, expect: int = 1, timeout: float = 10.0
    ) -> list:
        """The messages after the first `before` of the chat, once `expect` came."""
        deadline = started + timeout
        while time.time() < deadline:
            messages = self.api.messages(chat_id)
            if len(messages) >= before + expect:
                self.latencies.append(messages[before].at - started)
                return messages[before : before + expect]
            time.sleep(0.005)
        raise AssertionError(f"chat {chat_id}: no answer within {timeout} s")

    def last(self, chat_id: int):
        return self.api.messages(chat_id)[-1]


def inline_data(call) -> list[str]:
    markup = call.params.get("reply_markup") or {}
    return [b["callback_data"] for row in markup.get("inline_keyboard", []) for b in row]


@pytest.fixture
def telegram(clean_outbox, tmp_path):
    db = clean_outbox
    with FakeBotApi(token=f"{next(_bot_ids)}:TEST-token_for-the-fake-bot-api") as api:
        settings = load_settings(
            {
                "PULSA_DATABASE_URL": db.url,
                "PULSA_UPLOAD_FOLDER": str(tmp_path / "uploads"),
                "PULSA_PORTAL_URL": "https://portal.example.net",
                "PULSA_COUNTRY_CODE": "62",
                "PULSA_TELEGRAM_TOKEN": api.token,
                "PULSA_TELEGRAM_API_URL": api.api_url,
            }
        )
        loop = LoopThread()
        bot = TelegramBot(db, settings, poll_timeout=1)
        sender = TelegramSender(
            api.token, api.api_url, per_chat_per_second=1000.0, per_second=1000.0, timeout=2.0
        )
        worker = DeliveryWorker(db, [sender], poll_interval=0.05, backoff_base=0.05)
        stop = asyncio.Event()

        async def start():
            await bot.start()
            await asyncio.wait_for(bot.started.wait(), 10)
            return asyncio.ensure_future(worker.run(stop))

        running = loop.run(start())
        harness = Telegram(api, db, settings)
        try:
            yield harness
        finally:

            async def finish():
                stop.set()
                await asyncio.wait_for(running, 10)
                await bot.stop()

            loop.run(finish())
            loop.close()
        assert harness.latencies, "the test heard no answer"
        slowest = max(harness.latencies)
        assert slowest < REPLY_WITHIN, f"an answer took {slowest:.2f} s"


def customer_with_login(db, balance: int) -> tuple[int, int, int]:
    """(account, customer, login) of a customer with a hotspot login (password wifi1234)."""
    account_id, login_id = make_login(db, balance, name="Dewi", password="wifi1234")
    return account_id, db.run(lambda s: s.get(Account, account_id).customer_id), login_id


def start_link(telegram: Telegram, customer_id: int) -> int:
    """The customer presses the portal's "Connect Telegram": the bot gets /start <token>."""
    chat = next(_chats)
    token = telegram.db.run(
        lambda s: issue_link_token(s, "telegram", actor="test", customer_id=customer_id)[0]
    )
    [welcome] = telegram.say(chat, f"/start {token}", language_code="en")
    assert "Welcome, Dewi!" in welcome.text
    return chat


def test_the_bot_notes_its_name_for_the_portals_link(telegram):
    with telegram.db.transaction() as s:
        assert bot_username(s, "telegram") == "pulsa_test_bot"
    assert telegram.api.accepted("setMyCommands")
    telegram.say(next(_chats), "/help")


def test_linking_by_the_start_token_then_the_balance(telegram):
    _account_id, customer_id, _ = customer_with_login(telegram.db, 25_000 * RUPIAH)
    chat = start_link(telegram, customer_id)
    with telegram.db.transaction() as s:
        assert find_link(s, "telegram", str(chat)).customer_id == customer_id
    [balance] = telegram.say(chat, "/saldo", language_code="en")
    assert "Your credit: IDR 25,000" in balance.text
    assert inline_data(balance)[:2] == ["balance", "history"]


def test_a_stranger_is_asked_for_the_phone_and_linked_by_sharing_it(telegram):
    account_id, _customer_id, _ = customer_with_login(telegram.db, 0)

    def give_phone(s):
        s.get(Account, account_id).customer.phone = "0811-2233-4455"

    telegram.db.run(give_phone)
    chat = next(_chats)
    [help_] = telegram.say(chat, "/start", language_code="id")
    keyboard = help_.params["reply_markup"]["keyboard"]
    assert keyboard[0][0]["request_contact"] is True
    assert keyboard[0][0]["text"] == "Bagikan nomor telepon saya"
    # Someone else's contact proves nothing.
    telegram.say(chat, contact="+62 811 2233 4455", user_id=chat + 1)
    with telegram.db.transaction() as s:
        assert find_link(s, "telegram", str(chat)) is None
    [welcome] = telegram.say(chat, contact="+62 811 2233 4455", language_code="id")
    assert "Selamat datang, Dewi!" in welcome.text


def test_a_package_bought_with_the_confirmation_button(telegram):
    account_id, customer_id, login_id = customer_with_login(telegram.db, 20_000 * RUPIAH)
    package = make_package(telegram.db, price=5_000 * RUPIAH)
    chat = start_link(telegram, customer_id)
    [_offer] = telegram.say(chat, "/paket", language_code="en")
    [confirmation] = telegram.say(chat, button=f"buy:{package}", language_code="en")
    [yes] = [d for d in inline_data(confirmation) if d.startswith(f"ok:{package}:{login_id}:")]
    [bought] = telegram.say(chat, button=yes, language_code="en")
    assert "Password: wifi1234" in bought.text
    [again] = telegram.say(chat, button=yes, language_code="en")
    assert "nothing more was charged" in again.text
    assert balance_of(telegram.db, account_id) == 15_000 * RUPIAH
    with telegram.db.transaction() as s:
        assert (
            s.execute(
                select(func.count(Subscription.id)).where(Subscription.login_id == login_id)
            ).scalar_one()
            == 1
        )
    assert len(telegram.api.accepted("answerCallbackQuery")) >= 3


def test_a_top_up_with_the_receipt_photo_confirmed_by_staff_changes_the_balance(telegram):
    account_id, customer_id, _ = customer_with_login(telegram.db, 0)
    a_bank_account(telegram.db)
    chat = start_link(telegram, customer_id)
    [instructions] = telegram.say(chat, "/topup 50.000", language_code="en")
    assert "Top-up of IDR 50,000." in instructions.text
    [sent] = telegram.say(chat, photo=PNG, language_code="en")
    assert "Sent." in sent.text
    assert telegram.api.accepted("getFile")
    with telegram.db.transaction() as s:
        request = s.execute(
            select(PaymentRequest).where(PaymentRequest.account_id == account_id)
        ).scalar_one()
        assert (request.source, request.amount) == ("chat", 50_000 * RUPIAH)
        saved = (telegram.settings.upload_folder, request.proof_path)
    from pathlib import Path

    assert Path(*saved).read_bytes() == PNG
    before = len(telegram.api.messages(chat))
    started = time.time()
    telegram.db.run(lambda s: confirm_payment(s, request.id, actor="web:cashier"))
    assert balance_of(telegram.db, account_id) == 50_000 * RUPIAH
    [notice] = telegram.wait(chat, before, started)
    assert "50,000" in notice.text
    [balance] = telegram.say(chat, "/balance", language_code="en")
    assert "Your credit: IDR 50,000" in balance.text


def test_a_complaint_reaches_the_staff_and_their_reply_comes_back_to_the_chat(telegram):
    _, customer_id, _ = customer_with_login(telegram.db, 0)
    chat = start_link(telegram, customer_id)
    [ack] = telegram.say(chat, "Internet mati sejak pagi", language_code="id")
    # The chat's language is the one it was linked in (English), not each message's.
    assert "Sent to the operator" in ack.text
    with telegram.db.transaction() as s:
        conversation = s.execute(
            select(Conversation).where(Conversation.customer_id == customer_id)
        ).scalar_one()
    staff = make_staff_actor(telegram.db)
    before = len(telegram.api.messages(chat))
    started = time.time()
    telegram.db.run(
        lambda s: post_message(
            s, staff, conversation.id, text="Kami cek router Anda sekarang, mohon tunggu."
        )
    )
    [reply] = telegram.wait(chat, before, started)
    assert "Kami cek router Anda sekarang" in reply.text


def test_a_staff_reply_in_the_admin_to_a_portal_conversation_reaches_the_chat_once(
    telegram, tmp_path
):
    _, customer_id, _ = customer_with_login(telegram.db, 0)
    chat = start_link(telegram, customer_id)
    conversation_id = telegram.db.run(
        lambda s: (
            open_conversation(
                s,
                Actor.customer(customer_id, channel="portal"),
                topic="internet",
                text="Internet lambat sejak kemarin",
            ).id
        )
    )
    admin_settings = load_settings(
        {"PULSA_DATABASE_URL": telegram.db.url, "PULSA_SECRET_KEY": "test-secret"}
    )
    admin_app = create_admin_app(admin_settings, telegram.db, upload_folder=tmp_path / "admin")
    admin_app.test_client_class = AdminClient
    admin = signed_in(admin_app, make_staff(telegram.db, superuser=True))
    before = len(telegram.api.messages(chat))
    started = time.time()

    response = admin.post(
        f"/conversations/{conversation_id}/reply",
        data={"text": "Sudah kami perbaiki, silakan coba lagi."},
    )

    assert response.status_code == 302
    [reply] = telegram.wait(chat, before, started)
    assert "Sudah kami perbaiki, silakan coba lagi." in reply.text
    assert "on the portal" in reply.text  # the chat did not ask: it says where from
    time.sleep(0.5)  # a second copy would come within the worker's poll interval
    assert len(telegram.api.messages(chat)) == before + 1
    # Answering in the chat continues the same conversation (the one the portal shows).
    [ack] = telegram.say(chat, "Sudah bisa, terima kasih", language_code="en")
    assert "Sent to the operator" in ack.text
    with telegram.db.transaction() as s:
        [conversation] = s.execute(
            select(Conversation).where(Conversation.customer_id == customer_id)
        ).scalars()
        assert (conversation.id, conversation.channel) == (conversation_id, "portal")
        assert conversation.staff_unread == 1


def test_a_customer_who_turned_replies_off_gets_no_staff_reply_in_the_chat(telegram):
    _, customer_id, _ = customer_with_login(telegram.db, 0)
    chat = start_link(telegram, customer_id)
    telegram.db.run(lambda s: save_choices(s, customer_id, set(KINDS) - {STAFF_REPLY}))
    conversation_id = telegram.db.run(
        lambda s: (
            open_conversation(
                s, Actor.customer(customer_id, channel="portal"), topic="billing", text="Tagihan?"
            ).id
        )
    )
    staff = make_staff_actor(telegram.db)
    telegram.db.run(lambda s: post_message(s, staff, conversation_id, text="Sudah lunas."))
    with telegram.db.transaction() as s:
        replies = s.execute(
            select(func.count(Notice.id)).where(
                Notice.recipient == f"customer:{customer_id}", Notice.kind == STAFF_REPLY
            )
        ).scalar_one()
    assert replies == 0
    telegram.say(chat, "/help", language_code="en")  # (the fixture wants one answer)
    assert all("Sudah lunas." not in m.text for m in telegram.api.messages(chat))


def test_an_announcement_to_a_packages_users_reaches_their_chats_once(telegram):
    package_id = make_package(telegram.db)
    _, customer_id, login_id = customer_with_login(telegram.db, 100_000 * RUPIAH)
    telegram.db.run(lambda s: buy_package(s, login_id, package_id, key=f"buy-{login_id}"))
    chat = start_link(telegram, customer_id)
    staff = make_staff_actor(telegram.db)
    before, started = len(telegram.api.messages(chat)), time.time()
    now = utcnow()

    telegram.db.run(
        lambda s: post_announcement(
            s,
            staff,
            text="Perbaikan menara Sabtu pukul 22.00.",
            audience="package",
            package_id=package_id,
            starts_at=now,
            ends_at=now + timedelta(days=1),
        )
    )

    [pushed] = telegram.wait(chat, before, started)
    assert pushed.text == "Perbaikan menara Sabtu pukul 22.00."
    time.sleep(0.5)  # a second copy would come within the worker's poll interval
    assert len(telegram.api.messages(chat)) == before + 1


def test_an_update_delivered_twice_is_answered_and_acted_on_once(telegram):
    _, customer_id, _ = customer_with_login(telegram.db, 0)
    chat = start_link(telegram, customer_id)
    before, started = len(telegram.api.messages(chat)), time.time()
    update = telegram.api.push_text(chat, "Halo, ada orang?", language_code="id")
    telegram.wait(chat, before, started)
    time.sleep(0.3)
    count = len(telegram.api.messages(chat))
    telegram.api.push_update(update)  # Telegram delivers the same update again
    telegram.say(chat, "/help", language_code="id")
    assert len(telegram.api.messages(chat)) == count + 1
    with telegram.db.transaction() as s:
        conversation = s.execute(
            select(Conversation).where(Conversation.customer_id == customer_id)
        ).scalar_one()
        assert conversation.staff_unread == 1


def test_groups_are_not_talked_to_and_the_webhook_secret_is_the_tokens_own():
    assert webhook_secret("1:a") != webhook_secret("1:b")
    assert len(webhook_secret("1:a")) == 64 and webhook_secret("1:a").isalnum()


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_with_a_webhook_telegram_posts_updates_and_requests_without_the_secret_are_refused(
    clean_outbox, tmp_path
):
    import json
    import urllib.error
    import urllib.request

    db = clean_outbox
    port = _free_port()
    with FakeBotApi(token=f"{next(_bot_ids)}:TEST-token_for-the-webhook") as api:
        settings = load_settings(
            {
                "PULSA_DATABASE_URL": db.url,
                "PULSA_UPLOAD_FOLDER": str(tmp_path / "uploads"),
                "PULSA_TELEGRAM_TOKEN": api.token,
                "PULSA_TELEGRAM_API_URL": api.api_url,
                "PULSA_TELEGRAM_WEBHOOK_URL": "https://bot.example.net/telegram/hook",
                "PULSA_TELEGRAM_WEBHOOK_PORT": str(port),
            }
        )
        loop = LoopThread()
        bot = TelegramBot(db, settings)

        async def start():
            await bot.start()
            await asyncio.wait_for(bot.started.wait(), 10)

        loop.run(start())
        try:
            [registered] = api.accepted("setWebhook")
            assert registered.params["url"] == "https://bot.example.net/telegram/hook"
            assert registered.params["secret_token"] == webhook_secret(api.token)
            chat = next(_chats)
            update = {
                "update_id": 1,
                "message": {
                    "message_id": 1,
                    "date": int(time.time()),
                    "chat": {"id": chat, "type": "private", "first_name": "Made"},
                    "from": {"id": chat, "is_bot": False, "first_name": "Made"},
                    "text": "/help",
                },
            }

            def post(headers: dict) -> int:
                request = urllib.request.Request(
                    f"http://127.0.0.1:{port}/telegram/hook",
                    data=json.dumps(update).encode(),
                    headers={"Content-Type": "application/json", **headers},
                )
                try:
                    with urllib.request.urlopen(request, timeout=5) as response:
                        return response.status
                except urllib.error.HTTPError as error:
                    return error.code

            assert post({"X-Telegram-Bot-Api-Secret-Token": "guessed"}) == 403
            assert post({}) == 403
            time.sleep(0.2)
            assert api.messages(chat) == []
            started = time.time()
            assert post({"X-Telegram-Bot-Api-Secret-Token": webhook_secret(api.token)}) == 200
            harness = Telegram(api, db, settings)
            [answer] = harness.wait(chat, 0, started)
            assert "not linked to a customer account yet" in answer.text
            assert max(harness.latencies) < REPLY_WITHIN
        finally:
            loop.run(bot.stop())
            loop.close()


def test_a_chats_messages_are_handled_in_the_order_they_were_written(telegram):
    """A receipt photo (downloaded first) and the text right after it: the photo is
    the top-up's receipt, the text goes to the operator, not the other way round."""
    account_id, customer_id, _ = customer_with_login(telegram.db, 0)
    chat = start_link(telegram, customer_id)
    telegram.say(chat, "/topup 20000", language_code="en")
    telegram.api.latency = 0.05  # every call takes a while, the download too
    before, started = len(telegram.api.messages(chat)), time.time()
    telegram.api.push_photo(chat, PNG, language_code="en")
    telegram.api.push_text(chat, "I paid just now", language_code="en")
    first, second = telegram.wait(chat, before, started, expect=2)
    telegram.api.latency = 0.0
    assert "Sent. We will add" in first.text
    assert "Sent to the operator" in second.text
    with telegram.db.transaction() as s:
        request = s.execute(
            select(PaymentRequest).where(PaymentRequest.account_id == account_id)
        ).scalar_one()
        assert request.amount == 20_000 * RUPIAH


def sends_refused(api: FakeBotApi) -> list:
    return [c for c in api.calls if c.method.lower() == "sendmessage" and c.status == 429]


def test_replies_keep_to_telegrams_limits_with_many_chats_and_a_chat_writing_fast(telegram):
    """Telegram refuses (429) a second message to a chat within a second, and more than
    30 a second overall: 40 chats writing at once, one of them three times in a row,
    all get their answers, in order, and Telegram refuses none."""
    api = telegram.api
    api.flood_control = True
    chats = [next(_chats) for _ in range(40)]
    started = time.time()
    for chat in chats:
        api.push_text(chat, "/help", language_code="en")
    fast = chats[0]
    api.push_text(fast, "/help", language_code="id")
    api.push_text(fast, "/help", language_code="en")
    for chat in chats[1:]:
        telegram.wait(chat, 0, started, timeout=20.0)
    first, second, third = telegram.wait(fast, 0, started, expect=3, timeout=20.0)
    assert sends_refused(api) == []
    assert [m.text.split("!")[0] for m in (first, second, third)] == ["Hello", "Halo", "Hello"]
    # One chat's answers a second apart at least (Telegram counts from their arrival).
    assert second.at - first.at >= 0.95 and third.at - second.at >= 0.95


def test_a_reply_refused_with_429_is_sent_again_after_telegrams_wait(telegram):
    chat = next(_chats)
    telegram.api.fail_next("sendMessage", error_code=429, retry_after=1, chat_id=chat)
    [answer] = telegram.say(chat, "/help", language_code="en")
    assert answer.text.startswith("Hello!")
    [refused] = sends_refused(telegram.api)
    assert answer.at - refused.at >= 0.95
