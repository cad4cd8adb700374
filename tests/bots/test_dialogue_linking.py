"""The dialogue with chats not linked yet: help, linking by token or phone, writing to
the operator, updates handled once, flooding chats slowed down, staff chats."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from messaging.chats import find_link, issue_link_token
from messaging.models import Conversation, Message
from tests.bots.conftest import texts
from tests.conftest import make_account, unique_key
from tests.messaging.builders import make_customer, make_staff_actor
from wallet.models import Account


def telegram_token(db, customer_id=None, staff_id=None) -> str:
    return db.run(
        lambda s: issue_link_token(
            s, "telegram", actor="test", customer_id=customer_id, staff_id=staff_id
        )[0]
    )


def test_a_stranger_gets_the_help_the_registration_link_and_a_phone_button(new_chat):
    replies = new_chat().send("/start")
    assert "https://portal.example.net/register" in texts(replies)
    assert replies[0].ask_phone


def test_the_help_is_in_indonesian_for_an_indonesian_app(new_chat):
    replies = new_chat(language="id").send("/bantuan")
    assert "Daftar di sini" in texts(replies)


def test_start_with_the_portal_token_links_the_chat(db, new_chat):
    customer_id = make_customer(db, "Sari")
    chat = new_chat()
    replies = chat.send(f"/start {telegram_token(db, customer_id)}")
    assert "Welcome, Sari!" in texts(replies)
    assert replies[0].buttons, "the menu comes with the welcome"
    with db.transaction() as s:
        assert find_link(s, "telegram", chat.chat_id).customer_id == customer_id


def test_a_used_token_links_nothing_and_says_so(db, new_chat):
    token = telegram_token(db, make_customer(db))
    new_chat().send(f"/start {token}")
    other = new_chat()
    assert "unknown, used or expired" in texts(other.send(f"/start {token}"))
    with db.transaction() as s:
        assert find_link(s, "telegram", other.chat_id) is None


def test_sharing_the_phone_of_a_customer_links_the_chat(db, new_chat):
    number = "0857" + unique_key("").replace("-", "")[-8:].rjust(8, "3")[:8]
    account_id = make_account(db, name="Budi", phone=number)
    customer_id = db.run(lambda s: s.get(Account, account_id).customer_id)
    chat = new_chat()
    assert "Welcome, Budi!" in texts(chat.send(phone="+62" + number[1:]))
    with db.transaction() as s:
        assert find_link(s, "telegram", chat.chat_id).customer_id == customer_id


def test_sharing_an_unknown_phone_links_nothing(db, new_chat):
    chat = new_chat()
    assert "not the number of a customer" in texts(chat.send(phone="+1 555 0100 999"))
    with db.transaction() as s:
        assert find_link(s, "telegram", chat.chat_id) is None


def test_an_unknown_command_gets_the_help(db, new_chat):
    chat = new_chat()
    chat.send(f"/start {telegram_token(db, make_customer(db))}")
    assert "/saldo" in texts(chat.send("/frobnicate"))


def _conversations_of_contact(db, chat) -> list[tuple[Conversation, list[str]]]:
    with db.transaction() as s:
        found = s.execute(
            select(Conversation).where(Conversation.contact_key == f"telegram:{chat.chat_id}")
        ).scalars()
        return [
            (
                conversation,
                [
                    m.text
                    for m in s.execute(
                        select(Message)
                        .where(Message.conversation_id == conversation.id)
                        .order_by(Message.id)
                    ).scalars()
                ],
            )
            for conversation in found
        ]


def test_a_stranger_writing_opens_a_conversation_of_someone_not_a_customer_yet(db, new_chat):
    chat = new_chat()
    replies = chat.send("How much is a month of internet?", sender_name="Rina")
    assert "Sent to the operator" in texts(replies)
    chat.send("And is there a student price?", sender_name="Rina")
    [(conversation, messages)] = _conversations_of_contact(db, chat)
    assert conversation.customer_id is None
    assert conversation.contact_label == "Rina"
    assert conversation.channel == "telegram"
    assert messages == ["How much is a month of internet?", "And is there a student price?"]


def test_an_update_delivered_twice_is_handled_once(db, new_chat):
    chat = new_chat()
    chat.send("Hello?")
    assert chat.again(chat.sent[-1]) == []
    [(_, messages)] = _conversations_of_contact(db, chat)
    assert messages == ["Hello?"]


def test_a_chat_writing_dozens_of_messages_a_minute_is_told_once_to_wait(db, new_chat):
    chat = new_chat()
    answers = [chat.send(f"message {n}") for n in range(30)]
    waits = [a for a in answers if "wait a minute" in texts(a)]
    assert len(waits) == 1
    assert all(a == [] for a in answers[answers.index(waits[0]) + 1 :])
    [(_, messages)] = _conversations_of_contact(db, chat)
    assert len(messages) == 20


def test_a_staff_chat_goes_to_the_staff_dialogue(db, new_chat):
    staff = make_staff_actor(db)
    chat = new_chat()
    chat.send(f"/start {telegram_token(db, staff_id=staff.staff_id)}")
    assert "your role in the admin" in texts(chat.send("/saldo")).lower()
    assert _conversations_of_contact(db, chat) == []


def test_what_a_chat_wrote_before_it_was_linked_becomes_the_customers(db, new_chat):
    customer_id = make_customer(db, "Putu")
    chat = new_chat()
    chat.send("Saya mau daftar, tapi sudah punya akun?", sender_name="Putu")
    chat.send(f"/start {telegram_token(db, customer_id)}")
    chat.send("Ini saya lagi")
    [(conversation, messages)] = _conversations_of_contact(db, chat)
    assert conversation.customer_id == customer_id
    assert messages == ["Saya mau daftar, tapi sudah punya akun?", "Ini saya lagi"]


def test_the_operators_setup_country_code_links_a_phone_written_the_local_way(
    db, bot_settings, admin_settings, new_chat
):
    # The server's environment knows no country code; the operator chose Indonesia in
    # the admin's setup: the chat reads 0857... as 62857..., like the admin does.
    server = bot_settings.with_overrides(country_code="")
    number = f"62858{uuid.uuid4().int % 10**8:08d}"
    make_account(db, name="Wati", phone=number)
    admin_settings(country_code="62")
    chat = new_chat()
    chat.settings = server
    assert "Welcome, Wati!" in texts(chat.send(phone="0" + number[2:]))
