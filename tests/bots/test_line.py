"""LINE: signed webhooks through a real web server, the renderer held to LINE's limits, and
the sender through line-bot-sdk's real asyncio client, against the loopback fake LINE
Platform (tests/bots/fake_line.py, standing for LINE, which cannot be reached here)."""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from bots.chat import Button, Reply
from bots.line import (
    MAX_LABEL_CHARACTERS,
    WEBHOOK_PATH,
    LineWebhook,
    link_code_in,
    render,
    render_reply,
    split_text,
    utf16_units,
)
from messaging.chats import (
    bot_username,
    find_link,
    issue_link_token,
    line_friend_link,
    redeem_link_token,
)
from messaging.models import Message
from pulsa.settings import load_settings
from pulsa.web_server import start_web_server, with_mounted
from tests.bots.fake_line import FakeLine, new_user_id
from tests.conftest import make_account
from tests.messaging.builders import PNG, make_customer
from wallet.models import Account

JPEG = b"\xff\xd8\xff\xe0" + b"\x00\x10JFIF\x00" + b"\x01" * 200 + b"\xff\xd9"


@pytest.fixture
def fake() -> Iterator[FakeLine]:
    with FakeLine() as line:
        yield line


def line_settings(fake: FakeLine, database_url: str = "sqlite:///unused.db", **more: str):
    return load_settings(
        {
            "PULSA_DATABASE_URL": database_url,
            **fake.environment(),
            "PULSA_PORTAL_URL": "https://portal.example.net",
            **more,
        }
    )


class Recorder:
    """A dialogue that records what reaches it and answers `answer` (or raises)."""

    def __init__(self, answer=None, *, delay: float = 0.0, fail: bool = False) -> None:
        self.incoming: list = []
        self.answer = answer if answer is not None else [Reply("Hello from pulsa")]
        self.delay = delay
        self.fail = fail
        self.done = threading.Event()

    def __call__(self, db, settings, incoming):
        self.incoming.append(incoming)
        if self.delay:
            time.sleep(self.delay)
        self.done.set()
        if self.fail:
            raise RuntimeError("the database went away")
        return list(self.answer)


def _not_found(environ, start_response):
    start_response("404 Not Found", [("Content-Type", "text/plain")])
    return [b"the portal"]


def stop_server(server) -> None:
    """Close a waitress server from its own loop's thread (closing it from another thread
    can pull its socket from under a select() in progress)."""

    def close_everything():
        for dispatcher in list(server._map.values()):
            if dispatcher not in (server, server.trigger):
                dispatcher.close()
        server.close()  # the listening socket and the trigger: the loop ends

    server.trigger.pull_trigger(close_everything)
    server.task_dispatcher.shutdown()


class Served:
    def __init__(self, webhook: LineWebhook, server) -> None:
        self.webhook = webhook
        self.server = server
        self.url = f"http://127.0.0.1:{server.effective_port}{WEBHOOK_PATH}"


@pytest.fixture
def serve(fake):
    """`serve(handle, database=None, **settings)`: the LINE webhook mounted on a web
    server as the portal's would be (waitress on loopback)."""
    started: list[Served] = []

    def start(handle, database=None, **more) -> Served:
        url = database.url if database is not None else "sqlite:///unused.db"
        settings = line_settings(fake, url, **more)
        webhook = LineWebhook(settings, database, handle=handle, retry_delays=(0.05, 0.1))
        server = start_web_server(
            with_mounted(_not_found, {WEBHOOK_PATH: webhook}),
            settings,
            host="127.0.0.1",
            port=0,
            name="line-test",
        )
        served = Served(webhook, server)
        started.append(served)
        return served

    yield start
    for served in started:
        stop_server(served.server)
        served.webhook.close()


# --- the webhook: signatures ------------------------------------------------------------


def test_a_signed_webhook_is_accepted_and_its_text_reaches_the_dialogue(fake, serve):
    dialogue = Recorder()
    served = serve(dialogue)
    user = new_user_id()
    fake.add_profile(user, "Siti", language="id")
    event = fake.text_event(user, "berapa saldo saya?")

    status, _, _ = fake.deliver(served.url, [event])

    assert status == 200
    assert served.webhook.wait_idle()
    [incoming] = dialogue.incoming
    assert (incoming.platform, incoming.chat_id) == ("line", user)
    assert incoming.update_id == event["webhookEventId"]
    assert incoming.text == "berapa saldo saya?"
    assert (incoming.sender_name, incoming.language) == ("Siti", "id")
    [reply] = fake.wait_for(1, user)
    assert reply.reply_token == event["replyToken"]
    assert reply.texts == ["Hello from pulsa"]


@pytest.mark.parametrize(
    "how",
    ["no signature", "another secret", "body changed after signing", "not base64"],
)
def test_a_request_not_signed_with_the_channel_secret_is_refused_and_logged(
    fake, serve, caplog, how
):
    dialogue = Recorder()
    served = serve(dialogue)
    body = fake.body([fake.text_event(new_user_id(), "/saldo")])
    signature = {
        "no signature": None,
        "another secret": fake.sign(body, secret="not-the-channel-secret"),
        "body changed after signing": fake.sign(body.replace(b"/saldo", b"/paket")),
        "not base64": "x" * 44,
    }[how]

    with caplog.at_level(logging.WARNING, logger="pulsa.bots.line"):
        status, answer, _ = fake.deliver(served.url, body=body, signature=signature)

    assert status == 400
    assert "error" in json.loads(answer)
    assert dialogue.incoming == []
    assert fake.delivered() == []
    refused = [r for r in caplog.records if "refused" in r.getMessage()]
    assert refused and "127.0.0.1" in refused[0].getMessage()


def test_a_body_larger_than_a_webhook_is_refused_before_its_signature(fake, serve):
    dialogue = Recorder()
    served = serve(dialogue)
    event = fake.text_event(new_user_id(), "x" * 300_000)

    status, _, _ = fake.deliver(served.url, [event])

    assert status == 413
    assert dialogue.incoming == []


def test_only_post_is_answered(fake, serve):
    served = serve(Recorder())
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(served.url, timeout=5)
    assert refused.value.code == 405


def test_the_consoles_verify_request_with_no_events_gets_200(fake, serve):
    dialogue = Recorder()
    served = serve(dialogue)

    status, _, _ = fake.deliver(served.url, [])

    assert status == 200
    assert dialogue.incoming == []


def test_the_portal_answers_every_other_path(fake, serve):
    served = serve(Recorder())
    with pytest.raises(urllib.error.HTTPError) as other:
        urllib.request.urlopen(served.url.replace(WEBHOOK_PATH, "/line/webhook2"), timeout=5)
    assert other.value.read() == b"the portal"


# --- the webhook: events ---------------------------------------------------------------


def test_a_postback_is_a_pressed_button_and_follow_starts_the_chat(fake, serve):
    dialogue = Recorder()
    served = serve(dialogue)
    user = new_user_id()

    fake.deliver(served.url, [fake.follow_event(user), fake.postback_event(user, "balance")])
    assert served.webhook.wait_idle()

    assert [(i.text, i.button) for i in dialogue.incoming] == [("/start", None), (None, "balance")]


def test_a_sticker_reaches_the_dialogue_with_nothing_to_read(fake, serve):
    dialogue = Recorder()
    served = serve(dialogue)

    fake.deliver(served.url, [fake.sticker_event(new_user_id())])
    assert served.webhook.wait_idle()

    [incoming] = dialogue.incoming
    assert (incoming.text, incoming.button, incoming.photo) == (None, None, None)


def test_events_of_a_group_and_in_standby_are_not_answered(fake, serve):
    dialogue = Recorder()
    served = serve(dialogue)
    in_group = fake.text_event(new_user_id(), "hi all")
    in_group["source"] = {"type": "group", "groupId": "C" + "1" * 32, "userId": new_user_id()}
    standby = fake.text_event(new_user_id(), "hello")
    standby["mode"] = "standby"

    status, _, _ = fake.deliver(served.url, [in_group, standby])

    assert status == 200
    assert served.webhook.wait_idle()
    assert dialogue.incoming == []


def test_the_answer_goes_back_before_slow_work_ends_and_the_reply_follows(fake, serve):
    dialogue = Recorder(delay=2.5)
    served = serve(dialogue)
    user = new_user_id()

    status, _, took = fake.deliver(served.url, [fake.text_event(user, "/riwayat")])

    assert status == 200
    # LINE wants its 200 fast: it came while the dialogue (2.5 s) was still at work
    assert took < 2.5
    assert fake.delivered(user) == []
    [reply] = fake.wait_for(1, user)
    assert reply.reply_token is not None


def test_an_event_whose_handling_fails_is_tried_again_and_answered_once(fake, serve):
    dialogue = Recorder(fail=True)
    served = serve(dialogue)
    user = new_user_id()

    def heal() -> None:  # the database comes back after the first attempt
        dialogue.done.wait(5)
        dialogue.fail = False

    threading.Thread(target=heal).start()
    status, _, _ = fake.deliver(served.url, [fake.text_event(user, "/saldo")])

    assert status == 200
    [reply] = fake.wait_for(1, user)
    assert reply.texts == ["Hello from pulsa"]
    assert served.webhook.wait_idle()
    assert len(dialogue.incoming) == 2


def test_an_event_that_keeps_failing_is_logged_as_lost(fake, serve, caplog):
    served = serve(Recorder(fail=True))

    with caplog.at_level(logging.WARNING, logger="pulsa.bots.line"):
        status, _, _ = fake.deliver(served.url, [fake.text_event(new_user_id(), "/saldo")])
        assert served.webhook.wait_idle()

    assert status == 200
    messages = [r.getMessage() for r in caplog.records]
    assert sum("trying again" in m for m in messages) == 2
    assert any("lost after 3 attempts" in m for m in messages)
    assert fake.delivered() == []


def test_an_expired_reply_token_is_answered_by_push(fake, serve):
    served = serve(Recorder())
    user = new_user_id()
    event = fake.text_event(user, "/bantuan")
    fake.expire_reply_tokens()

    fake.deliver(served.url, [event])

    [pushed] = fake.wait_for(1, user)
    assert pushed.to == user and pushed.reply_token is None
    assert pushed.texts == ["Hello from pulsa"]


def test_more_than_five_messages_go_as_a_reply_then_a_push(fake, serve):
    served = serve(Recorder([Reply(f"part {n}") for n in range(7)]))
    user = new_user_id()

    fake.deliver(served.url, [fake.text_event(user, "/riwayat")])

    first, second = fake.wait_for(2, user)
    assert first.reply_token is not None and len(first.messages) == 5
    assert second.to == user and second.texts == ["part 5", "part 6"]


# --- rendering ----------------------------------------------------------------------------


def _dicts(messages) -> list[dict]:
    return [m.to_dict() for m in messages]


def test_buttons_become_quick_replies_that_post_back_their_data():
    reply = Reply(
        "What would you like to do?",
        buttons=(
            (Button("Balance", "balance"), Button("History", "history")),
            (Button("Packages", "packages"),),
        ),
    )

    [message] = _dicts(render_reply(reply))

    assert message["text"] == "What would you like to do?"
    items = message["quickReply"]["items"]
    assert [i["action"]["type"] for i in items] == ["postback"] * 3
    assert [i["action"]["data"] for i in items] == ["balance", "history", "packages"]
    assert [i["action"]["label"] for i in items] == ["Balance", "History", "Packages"]


def test_a_long_label_is_shortened_to_lines_limit_and_shown_whole_when_tapped():
    label = "Paket Mingguan 10 GB (Rp 50.000)"
    [message] = _dicts(render_reply(Reply("Pilih paket", buttons=((Button(label, "buy:7"),),))))

    action = message["quickReply"]["items"][0]["action"]
    assert len(action["label"]) == MAX_LABEL_CHARACTERS
    assert action["label"].endswith("…") and label.startswith(action["label"][:-1])
    assert action["displayText"] == label


def test_more_buttons_than_a_quick_reply_holds_become_a_flex_list_with_all_of_them():
    buttons = tuple((Button(f"Paket nomor {n} 1 GB", f"buy:{n}"),) for n in range(1, 31))

    text, flex = _dicts(render_reply(Reply("Paket yang tersedia:", buttons=buttons)))

    assert text["text"] == "Paket yang tersedia:" and "quickReply" not in text
    assert flex["type"] == "flex" and flex["altText"] == "Paket yang tersedia:"
    bubbles = flex["contents"]["contents"]
    assert len(bubbles) == 3  # ten buttons a bubble
    data = [
        node["action"]["data"]
        for bubble in bubbles
        for node in bubble["body"]["contents"]
        if node["type"] == "button"
    ]
    assert data == [f"buy:{n}" for n in range(1, 31)]


def test_a_text_longer_than_a_line_message_is_split_counting_utf16_units():
    text = ("Saldo 🙂 " * 700).strip()  # the emoji counts two units

    pieces = split_text(text)

    assert len(pieces) == 2
    assert all(utf16_units(piece) <= 5000 for piece in pieces)
    assert "".join(pieces) == text


def test_a_short_text_file_is_sent_as_its_text_and_any_other_file_is_named():
    readable = render_reply(Reply("Your receipt", document=("receipt.txt", b"Paid Rp 50.000")))
    pdf = render_reply(
        Reply("Your sheet", document=("vouchers.pdf", b"%PDF-1.7\x00\x01")),
        portal_address="https://portal.example.net",
    )

    assert [m.text for m in readable] == ["Your receipt", "📄 receipt.txt\n\nPaid Rp 50.000"]
    assert pdf[1].text.startswith("📄 vouchers.pdf cannot be sent in LINE")
    assert "https://portal.example.net" in pdf[1].text


def test_what_the_renderer_makes_is_taken_by_line(fake):
    """The fake refuses what LINE's documented limits refuse: every shape the renderer
    makes is pushed through the real SDK client and accepted."""
    from linebot.v3.messaging import ApiClient, Configuration, MessagingApi, PushMessageRequest

    replies = [
        Reply("menu", buttons=tuple((Button(f"Choice {n}", f"c:{n}"),) for n in range(13))),
        Reply("list", buttons=((Button("A very long package name indeed", "p:1"),),) * 40),
        Reply("x" * 12_000),
        Reply("file", document=("sheet.pdf", b"\x00\x01")),
    ]
    user = new_user_id()
    api = MessagingApi(ApiClient(Configuration(host=fake.api_url, access_token=fake.access_token)))
    for reply in replies:
        for message in render([reply]):
            api.push_message(PushMessageRequest(to=user, messages=[message]))

    assert len(fake.pushes) == 1 + 2 + 3 + 2


# --- with the dialogue and a database ---------------------------------------------------------


@pytest.fixture
def dialogue_served(db, serve, tmp_path):
    """The webhook with the real dialogue on the test database."""
    return serve(None, db, PULSA_UPLOAD_FOLDER=str(tmp_path / "uploads"))


def test_a_customer_links_their_line_chat_with_the_code_the_portal_gave(db, fake, dialogue_served):
    customer_id = make_customer(db, "Wulan Sari")
    code, _ = db.run(
        lambda s: issue_link_token(s, "line", actor="portal:customer", customer_id=customer_id)
    )
    user = new_user_id()
    fake.add_profile(user, "Wulan", language="id")

    status, _, _ = fake.deliver(
        dialogue_served.url, [fake.text_event(user, f" {code[:4]}-{code[4:]} ".lower())]
    )

    assert status == 200
    [reply] = fake.wait_for(1, user)
    assert "Wulan Sari" in reply.texts[0]
    assert "balance" in reply.quick_reply_data()
    link = db.run(lambda s: find_link(s, "line", user))
    assert (link.customer_id, link.language) == (customer_id, "id")


def test_the_same_event_delivered_twice_is_handled_once(db, fake, dialogue_served):
    user = new_user_id()
    text = f"Halo, internet saya mati sejak pagi ({user[-6:]})"
    event = fake.text_event(user, text)

    first, _, _ = fake.deliver(dialogue_served.url, [event])
    again, _, _ = fake.deliver(dialogue_served.url, [FakeLine.redelivered(event)])
    assert dialogue_served.webhook.wait_idle()

    assert (first, again) == (200, 200)
    assert len(fake.delivered(user)) == 1
    assert [c.endpoint for c in fake.calls if c.endpoint in ("reply", "push")] == ["reply"]
    messages = db.run(
        lambda s: s.execute(select(func.count(Message.id)).where(Message.text == text)).scalar_one()
    )
    assert messages == 1


def test_a_photo_is_read_from_lines_data_endpoint_once(db, fake, dialogue_served, tmp_path):
    user = new_user_id()
    event = fake.image_event(user, PNG)

    fake.deliver(dialogue_served.url, [event])
    assert dialogue_served.webhook.wait_idle()
    fake.deliver(dialogue_served.url, [FakeLine.redelivered(event)])
    assert dialogue_served.webhook.wait_idle()

    [reply] = fake.wait_for(1, user)
    assert "operator" in reply.texts[0]
    [download] = [c for c in fake.calls if c.endpoint == "content"]
    assert download.headers["authorization"] == f"Bearer {fake.access_token}"
    stored = list((tmp_path / "uploads").rglob("*.png"))
    assert [p.read_bytes() for p in stored] == [PNG]


def test_the_portals_server_serves_the_webhook_only_when_line_is_configured(db, fake, tmp_path):
    from portal import create_app
    from pulsa.web_server import with_chat_webhooks

    answers = {}
    for configured in (True, False):
        settings = line_settings(fake, db.url, PULSA_SECRET_KEY="test-secret")
        if not configured:
            settings = settings.with_overrides(line_channel_secret="", line_access_token="")
        portal = create_app(settings, db, upload_folder=tmp_path / "uploads")
        app, stops = with_chat_webhooks(portal, settings, db)
        server = start_web_server(app, settings, host="127.0.0.1", port=0, name="portal-test")
        base = f"http://127.0.0.1:{server.effective_port}"
        try:
            webhook, _, _ = fake.deliver(base + WEBHOOK_PATH, [])
            with urllib.request.urlopen(base + "/sign-in", timeout=10) as page:
                answers[configured] = (webhook, page.status, len(stops))
        finally:
            stop_server(server)
            for stop in stops:
                stop()

    assert answers[True] == (200, 200, 1)
    assert answers[False][0] in (404, 405) and answers[False][1:] == (200, 0)


def linked_line_chat(db, fake: FakeLine, *, balance: int = 0, language: str = "id") -> str:
    """A LINE user whose chat is linked to a new customer with `balance` micro-units."""
    account_id = make_account(db, balance, name="Dewi Lestari")
    customer_id = db.run(lambda s: s.get(Account, account_id).customer_id)
    user = new_user_id()

    def link(session):
        code, _ = issue_link_token(session, "line", actor="test", customer_id=customer_id)
        redeem_link_token(session, "line", user, code, language=language)

    db.run(link)
    return user


def test_a_linked_customer_asks_the_balance_and_gets_it_as_a_reply(db, fake, dialogue_served):
    user = linked_line_chat(db, fake, balance=75_500 * 10**6)

    fake.deliver(dialogue_served.url, [fake.text_event(user, "/saldo")])
    fake.deliver(dialogue_served.url, [fake.postback_event(user, "balance")])

    typed, pressed = fake.wait_for(2, user)
    for reply in (typed, pressed):
        assert reply.reply_token is not None  # answered with the event's reply token
        assert "75.500" in reply.texts[0]  # Indonesian, the link's language
        assert {"balance", "history"} <= set(reply.quick_reply_data())


def test_a_customer_who_blocks_the_account_is_marked_and_unblocking_clears_it(
    db, fake, dialogue_served
):
    user = linked_line_chat(db, fake)

    def blocked_at(session):
        return find_link(session, "line", user).blocked_at

    fake.deliver(dialogue_served.url, [fake.unfollow_event(user)])
    assert dialogue_served.webhook.wait_idle()
    assert db.run(blocked_at) is not None
    assert fake.delivered(user) == []  # nothing can be answered to a blocked account

    fake.deliver(dialogue_served.url, [fake.follow_event(user)])
    fake.wait_for(1, user)  # the welcome back
    assert db.run(blocked_at) is None


def test_an_unlinked_line_chat_is_told_how_to_link_on_line(db, fake, dialogue_served):
    user = new_user_id()
    fake.add_profile(user, "Budi", language="en")

    fake.deliver(dialogue_served.url, [fake.follow_event(user)])
    fake.deliver(dialogue_served.url, [fake.text_event(user, "WXYZ-2345")])  # no such code

    welcome, unknown = fake.wait_for(2, user)
    assert '"Connect LINE"' in welcome.texts[0] and "Telegram" not in welcome.texts[0]
    assert "https://portal.example.net" in welcome.texts[0]
    assert unknown.texts == [
        "This code is unknown, used or expired. Open your profile on the portal and press "
        '"Connect LINE" again for a new code.'
    ]


@pytest.mark.parametrize(
    ("typed", "code"),
    [
        ("ABCD-EF23", "ABCDEF23"),
        (" abcd ef23 ", "ABCDEF23"),
        ("abcdef23", "ABCDEF23"),
        ("WXYZTRKM", "WXYZTRKM"),
        ("wxyz-trkm", "WXYZTRKM"),
        ("transfer", None),  # a word, not a code
        ("ABCD-EF21", None),  # 1 is never in a code
        ("ABCDEF2", None),
        ("/start ABCDEF23", None),  # already a start: the dialogue reads it
    ],
)
def test_a_link_code_is_recognised_as_the_portal_shows_it_and_a_word_is_not(typed, code):
    assert link_code_in(typed) == code


def test_the_accounts_line_id_is_noted_for_the_portal_even_when_line_fails_at_start(
    db, fake, serve
):
    fake.fail_next("bot info", 500)
    served = serve(Recorder(), db)
    deadline = time.monotonic() + 10
    while not [c for c in fake.calls if c.endpoint == "bot info"] and time.monotonic() < deadline:
        time.sleep(0.01)

    fake.deliver(served.url, [fake.text_event(new_user_id(), "halo")])
    assert served.webhook.wait_idle()

    assert [c.status for c in fake.calls if c.endpoint == "bot info"] == [500, 200]
    name = db.run(lambda s: bot_username(s, "line"))
    assert name == "123pulsa"
    assert line_friend_link(name) == "https://line.me/R/ti/p/%40123pulsa"


def test_the_webhook_has_a_server_of_its_own_for_a_site_without_the_portal_here(db, fake):
    from pulsa.web_server import start_chat_webhooks_server

    settings = line_settings(fake, db.url)
    server, stops = start_chat_webhooks_server(settings, db, host="127.0.0.1", port=0)
    base = f"http://127.0.0.1:{server.effective_port}"
    try:
        status, _, _ = fake.deliver(base + WEBHOOK_PATH, [])
        with pytest.raises(urllib.error.HTTPError) as elsewhere:
            urllib.request.urlopen(base + "/sign-in", timeout=10)
    finally:
        stop_server(server)
        for stop in stops:
            stop()

    assert status == 200
    assert elsewhere.value.code == 404


def test_pulsa_bot_refuses_a_line_port_when_line_is_not_configured(tmp_path, monkeypatch, capsys):
    from pulsa.cli import main

    monkeypatch.setenv("PULSA_DATABASE_URL", f"sqlite:///{tmp_path}/x.db")
    monkeypatch.setenv("PULSA_TELEGRAM_TOKEN", "1:x")
    with pytest.raises(SystemExit) as exit_:
        main(["bot", "--line-port", "0"])

    assert exit_.value.code != 0
    assert "--line-port: LINE is not configured" in capsys.readouterr().err


def test_a_chats_events_are_handled_in_order_and_chats_at_the_same_time(fake, serve):
    handled: list = []
    spans: dict[str, list[tuple[float, float]]] = {}
    delays = iter([0.3, 0.0, 0.2, 0.0] * 2)

    def dialogue(db, settings, incoming):
        began = time.monotonic()
        time.sleep(next(delays))  # the first message takes longest
        handled.append(incoming)
        spans.setdefault(incoming.chat_id, []).append((began, time.monotonic()))
        return []

    served = serve(dialogue)
    first, second = new_user_id(), new_user_id()
    texts = [f"message {n}" for n in range(4)]

    for text in texts:  # one request each, as fast as LINE sends them
        for user in (first, second):
            fake.deliver(served.url, [fake.text_event(user, text)])
    assert served.webhook.wait_idle()

    for user in (first, second):
        assert [i.text for i in handled if i.chat_id == user] == texts
    # side by side: some message of one chat was handled while one of the other was
    # (measured by overlap, not by a time limit, so a loaded machine does not fail it)
    assert any(
        a_start < b_end and b_start < a_end
        for a_start, a_end in spans[first]
        for b_start, b_end in spans[second]
    )


def test_a_sticker_from_a_linked_customer_gets_the_help(db, fake, dialogue_served):
    user = linked_line_chat(db, fake, language="en")

    fake.deliver(dialogue_served.url, [fake.sticker_event(user)])

    [reply] = fake.wait_for(1, user)
    assert reply.texts[0].startswith("What would you like to do?")
    assert "balance" in reply.quick_reply_data()
