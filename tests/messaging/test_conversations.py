"""Conversations on every database: who may do what, unread counts, idempotent messages,
the audit log, and a customer never reaching another customer's conversation."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from messaging.actors import Actor
from messaging.conversations import (
    assign,
    close,
    get_conversation,
    mark_read,
    messages_of,
    open_conversation,
    post_message,
    reopen,
    store_message_image,
    unread_by_conversation,
    unread_count,
)
from messaging.errors import ConversationClosed, NotAllowed
from messaging.models import Conversation, Message
from tests.conftest import unique_key
from tests.messaging.builders import PNG, make_customer, make_staff_actor
from wallet.errors import InvalidInput, NotFound
from wallet.staff import AuditRecord, update_staff


def opened(db, actor: Actor, text: str = "My internet is slow", **options) -> int:
    options.setdefault("topic", "internet")
    return db.run(lambda s: open_conversation(s, actor, text=text, **options).id)


def status_of(db, conversation_id: int) -> str:
    with db.transaction() as session:
        return session.get(Conversation, conversation_id).status


def test_a_customer_opens_a_conversation_that_the_staff_see_as_open_and_unread(db):
    customer = Actor.customer(make_customer(db))
    staff = make_staff_actor(db)
    with db.transaction() as session:
        unread_before = unread_count(session, staff)
    conversation_id = opened(db, customer)
    with db.transaction() as session:
        conversation = session.get(Conversation, conversation_id)
        assert conversation.status == "open"
        assert conversation.customer_id == customer.customer_id
        assert conversation.channel == "portal"
        assert unread_count(session, staff) == unread_before + 1
        assert unread_by_conversation(session, staff, [conversation_id]) == {conversation_id: 1}
        # The customer's own message is not news to the customer.
        assert unread_count(session, customer) == 0


def test_a_staff_reply_waits_for_the_customer_and_is_unread_on_the_customer_side(db):
    customer = Actor.customer(make_customer(db))
    staff = make_staff_actor(db)
    conversation_id = opened(db, customer)
    db.run(lambda s: post_message(s, staff, conversation_id, text="We are looking at it"))
    assert status_of(db, conversation_id) == "waiting"
    with db.transaction() as session:
        assert unread_count(session, customer) == 1
        assert unread_by_conversation(session, staff, [conversation_id]) == {}
    db.run(lambda s: post_message(s, customer, conversation_id, text="Thanks"))
    assert status_of(db, conversation_id) == "open"


def test_marking_read_clears_the_unread_count_and_never_moves_back(db):
    customer = Actor.customer(make_customer(db))
    staff = make_staff_actor(db)
    conversation_id = opened(db, customer)
    first, _ = db.run(lambda s: post_message(s, staff, conversation_id, text="one"))
    db.run(lambda s: post_message(s, staff, conversation_id, text="two"))
    with db.transaction() as session:
        assert unread_count(session, customer) == 2
    assert db.run(lambda s: mark_read(s, customer, conversation_id, first.id)) is True
    with db.transaction() as session:
        assert unread_count(session, customer) == 1
    assert db.run(lambda s: mark_read(s, customer, conversation_id)) is True
    assert db.run(lambda s: mark_read(s, customer, conversation_id, first.id)) is False
    with db.transaction() as session:
        assert unread_count(session, customer) == 0
        assert session.get(Conversation, conversation_id).customer_read_message_id > first.id


def test_a_customer_never_reaches_another_customers_conversation(db):
    owner = Actor.customer(make_customer(db))
    stranger = Actor.customer(make_customer(db, "Stranger"))
    conversation_id = opened(db, owner, text="private")
    attempts = [
        lambda s: get_conversation(s, stranger, conversation_id),
        lambda s: post_message(s, stranger, conversation_id, text="hello"),
        lambda s: mark_read(s, stranger, conversation_id),
        lambda s: reopen(s, stranger, conversation_id),
    ]
    for attempt in attempts:
        with pytest.raises(NotFound):
            db.run(attempt)
    with db.transaction() as session:
        assert [
            m.text for m in messages_of(session, session.get(Conversation, conversation_id))
        ] == ["private"]


def test_a_customer_may_neither_close_nor_assign_a_conversation(db):
    customer = Actor.customer(make_customer(db))
    staff = make_staff_actor(db)
    conversation_id = opened(db, customer)
    with pytest.raises(NotAllowed):
        db.run(lambda s: close(s, customer, conversation_id))
    with pytest.raises(NotAllowed):
        db.run(lambda s: assign(s, customer, conversation_id, staff.staff_id))
    assert status_of(db, conversation_id) == "open"


def test_a_closed_conversation_takes_no_message_until_its_customer_reopens_it(db):
    customer = Actor.customer(make_customer(db))
    staff = make_staff_actor(db)
    conversation_id = opened(db, customer)
    db.run(lambda s: close(s, staff, conversation_id))
    assert status_of(db, conversation_id) == "closed"
    with pytest.raises(ConversationClosed):
        db.run(lambda s: post_message(s, customer, conversation_id, text="still broken"))
    db.run(lambda s: reopen(s, customer, conversation_id))
    db.run(lambda s: post_message(s, customer, conversation_id, text="still broken"))
    with db.transaction() as session:
        conversation = session.get(Conversation, conversation_id)
        assert conversation.status == "open"
        assert conversation.closed_at is None


def test_a_conversation_is_assigned_to_an_active_staff_member_only(db):
    customer = Actor.customer(make_customer(db))
    staff = make_staff_actor(db, is_superuser=True)  # one super admin must stay active
    helper = make_staff_actor(db)
    conversation_id = opened(db, customer)
    db.run(lambda s: assign(s, staff, conversation_id, helper.staff_id))
    with db.transaction() as session:
        assert session.get(Conversation, conversation_id).assigned_staff_id == helper.staff_id
    db.run(lambda s: update_staff(s, helper.staff_id, actor="test", is_active=False))
    with pytest.raises(NotFound):
        db.run(lambda s: assign(s, staff, conversation_id, helper.staff_id))
    db.run(lambda s: assign(s, staff, conversation_id, None))
    with db.transaction() as session:
        assert session.get(Conversation, conversation_id).assigned_staff_id is None


def test_a_chat_update_delivered_twice_adds_one_message(db):
    customer = Actor.customer(make_customer(db), channel="telegram")
    conversation_id = opened(db, customer)
    first, added = db.run(
        lambda s: post_message(s, customer, conversation_id, text="hi", message_key="tg:update:7")
    )
    again, added_again = db.run(
        lambda s: post_message(s, customer, conversation_id, text="hi", message_key="tg:update:7")
    )
    assert (added, added_again) == (True, False)
    assert again.id == first.id
    with db.transaction() as session:
        count = session.execute(
            select(func.count(Message.id)).where(Message.conversation_id == conversation_id)
        ).scalar_one()
    assert count == 2  # the opening message and "hi", once


def test_a_first_chat_message_delivered_twice_opens_one_conversation(db):
    contact = Actor.contact(unique_key("telegram:"), "telegram")
    first = opened(db, contact, message_key="tg:update:first", contact_label="Rudi")
    again = opened(db, contact, message_key="tg:update:first", contact_label="Rudi")
    assert again == first
    assert len(messages_of_id(db, first)) == 1
    stranger = Actor.contact(unique_key("telegram:"), "telegram")
    with pytest.raises(NotFound):
        opened(db, stranger, message_key="tg:update:first")


def messages_of_id(db, conversation_id: int) -> list[Message]:
    with db.transaction() as session:
        return messages_of(session, session.get(Conversation, conversation_id))


def test_a_chat_contact_who_is_not_a_customer_yet_talks_in_its_own_conversation(db):
    contact = Actor.contact("line:U1234abcd", "line")
    other = Actor.contact("line:U9999", "line")
    conversation_id = opened(db, contact, topic="other", contact_label="Budi (LINE)")
    with db.transaction() as session:
        conversation = session.get(Conversation, conversation_id)
        assert conversation.customer_id is None
        assert conversation.party == "Budi (LINE)"
    with pytest.raises(NotFound):
        db.run(lambda s: get_conversation(s, other, conversation_id))


def test_a_message_needs_words_or_a_photo_and_a_known_topic(db):
    customer = Actor.customer(make_customer(db))
    with pytest.raises(InvalidInput):
        opened(db, customer, text="   ")
    with pytest.raises(InvalidInput):
        opened(db, customer, topic="weather")
    conversation_id = opened(db, customer, text="", image_path="2026-12/photo.png")
    with db.transaction() as session:
        (message,) = messages_of(session, session.get(Conversation, conversation_id))
        assert message.image_path == "2026-12/photo.png"


def test_a_message_may_have_several_lines_but_no_other_control_character(db):
    customer = Actor.customer(make_customer(db))
    conversation_id = opened(db, customer, text="line one\nline two")
    with pytest.raises(InvalidInput, match="control character"):
        db.run(lambda s: post_message(s, customer, conversation_id, text="clear\x1b[2J"))
    with db.transaction() as session:
        texts = [m.text for m in messages_of(session, session.get(Conversation, conversation_id))]
    assert texts == ["line one\nline two"]


def test_every_change_of_a_conversation_is_in_the_audit_log_with_its_actor(db):
    customer = Actor.customer(make_customer(db))
    staff = make_staff_actor(db)
    conversation_id = opened(db, customer)
    db.run(lambda s: assign(s, staff, conversation_id, staff.staff_id))
    db.run(lambda s: post_message(s, staff, conversation_id, text="fixed"))
    db.run(lambda s: mark_read(s, customer, conversation_id))
    db.run(lambda s: close(s, staff, conversation_id))
    db.run(lambda s: reopen(s, customer, conversation_id))
    with db.transaction() as session:
        records = session.execute(
            select(AuditRecord.actor, AuditRecord.action)
            .where(AuditRecord.target == f"conversation {conversation_id}")
            .order_by(AuditRecord.id)
        ).all()
    assert [tuple(r) for r in records] == [
        (customer.name, "conversation.open"),
        (customer.name, "conversation.message"),
        (staff.name, "conversation.assign"),
        (staff.name, "conversation.message"),
        (customer.name, "conversation.read"),
        (staff.name, "conversation.close"),
        (customer.name, "conversation.reopen"),
    ]


def test_a_photo_is_checked_and_stored_like_a_payment_proof(tmp_path):
    stored = store_message_image(tmp_path, PNG)
    assert stored.endswith(".png")
    assert (tmp_path / stored).read_bytes() == PNG
    with pytest.raises(InvalidInput, match="image must be a PNG, JPEG or GIF"):
        store_message_image(tmp_path, b"<script>alert(1)</script>")
    with pytest.raises(InvalidInput, match="empty"):
        store_message_image(tmp_path, b"")
