"""The fake Bot API answers the real python-telegram-bot client like Telegram does: the
other bot tests rely on it, so its replies and its injected errors are checked here."""

from __future__ import annotations

import asyncio

import pytest
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter

from tests.bots.fake_telegram import FakeBotApi


@pytest.fixture
def api():
    with FakeBotApi() as fake:
        yield fake


def run_bot(api: FakeBotApi, work):
    async def main():
        bot = Bot(api.token, base_url=api.base_url, base_file_url=api.base_file_url)
        async with bot:
            return await work(bot)

    return asyncio.run(main())


def test_the_client_reads_the_bot_and_sends_a_message_with_buttons(api):
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Saldo", callback_data="balance")]])

    async def work(bot):
        me = await bot.get_me()
        message = await bot.send_message(chat_id=42, text="Halo", reply_markup=keyboard)
        return me, message

    me, message = run_bot(api, work)
    assert me.username == "pulsa_test_bot" and me.is_bot
    assert message.chat.id == 42 and message.text == "Halo"
    (sent,) = api.messages(chat_id=42)
    assert sent.text == "Halo"
    assert sent.params["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "balance"


def test_an_injected_429_reaches_the_client_as_retry_after_with_its_seconds(api):
    api.fail_next("sendMessage", error_code=429, retry_after=7)

    async def work(bot):
        with pytest.raises(RetryAfter) as error:
            await bot.send_message(chat_id=5, text="first")
        await bot.send_message(chat_id=5, text="second")
        return error.value

    error = run_bot(api, work)
    assert "Retry in 7 seconds" in error.message
    assert api.texts(5) == ["second"]


def test_a_blocked_chat_gets_forbidden_and_nothing_is_delivered(api):
    api.block(9)

    async def work(bot):
        with pytest.raises(Forbidden, match="blocked by the user"):
            await bot.send_message(chat_id=9, text="hello")
        await bot.send_message(chat_id=10, text="other chat")

    run_bot(api, work)
    assert api.texts(9) == [] and api.texts(10) == ["other chat"]


def test_a_down_api_refuses_connections_and_comes_back_on_the_same_port(api):
    port = api.port

    async def work(bot):
        await bot.get_me()
        api.go_down()
        with pytest.raises(NetworkError):
            await bot.send_message(chat_id=1, text="lost")
        api.come_up()
        await bot.send_message(chat_id=1, text="after")

    run_bot(api, work)
    assert api.port == port
    assert api.texts(1) == ["after"]


def test_updates_are_long_polled_and_confirmed_by_the_offset(api):
    api.push_text(77, "/saldo")
    api.push_photo(77, b"\x89PNG fake", caption="bukti")

    async def work(bot):
        first = await bot.get_updates(timeout=1)
        photo = first[1].message.photo[-1]
        file = await bot.get_file(photo.file_id)
        data = await file.download_as_bytearray()
        again = await bot.get_updates(offset=first[-1].update_id + 1, timeout=0)
        return first, bytes(data), again

    first, data, again = run_bot(api, work)
    assert first[0].message.text == "/saldo" and first[0].message.chat.id == 77
    assert first[0].message.entities[0].type == "bot_command"
    assert data == b"\x89PNG fake"
    assert again == ()


def test_callbacks_documents_edits_and_webhooks(api):
    api.push_callback(3, "buy:1", message_id=11)

    async def work(bot):
        (update,) = await bot.get_updates(timeout=1)
        await bot.answer_callback_query(update.callback_query.id, text="ok")
        edited = await bot.edit_message_text("done", chat_id=3, message_id=11)
        document = await bot.send_document(3, document=b"%PDF-1.4", filename="vouchers.pdf")
        await bot.set_webhook("https://example.test/hook")
        info = await bot.get_webhook_info()
        await bot.delete_webhook()
        with pytest.raises(BadRequest):
            await bot.send_message(chat_id=3, text="")
        return update, edited, document, info

    update, edited, document, info = run_bot(api, work)
    assert update.callback_query.data == "buy:1"
    assert edited.text == "done" and edited.message_id == 11
    assert document.document.file_name == "vouchers.pdf"
    assert api.accepted("sendDocument")[0].files["document"] == ("vouchers.pdf", b"%PDF-1.4")
    assert info.url == "https://example.test/hook" and api.webhook_url == ""


def test_flood_control_answers_429_to_a_second_message_in_the_same_second():
    with FakeBotApi(flood_control=True) as api:

        async def work(bot):
            await bot.send_message(chat_id=1, text="a")
            with pytest.raises(RetryAfter):
                await bot.send_message(chat_id=1, text="b")
            await bot.send_message(chat_id=2, text="c")

        run_bot(api, work)
        assert api.texts() == ["a", "c"]
