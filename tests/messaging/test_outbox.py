"""The outbox: a notice commits with its event or not at all, and a key is enqueued once,
also when two transactions try at the same moment."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from messaging.actors import Actor
from messaging.conversations import open_conversation, post_message
from messaging.models import Message, Notice
from messaging.outbox import (
    ALL_CHATS,
    due_notices,
    enqueue_notice,
    mark_failed,
    mark_sent,
    notice_payload,
)
from tests.conftest import unique_key
from tests.messaging.builders import make_customer, make_staff_actor
from wallet.ledger import utcnow


def notices_with(db, key: str) -> int:
    with db.transaction() as session:
        return session.execute(select(func.count(Notice.id)).where(Notice.key == key)).scalar_one()


class Boom(Exception):
    pass


def test_a_staff_reply_in_a_chat_conversation_commits_with_its_notice(db):
    contact = Actor.contact(unique_key("telegram:"), "telegram")
    staff = make_staff_actor(db)
    conversation_id = db.run(
        lambda s: open_conversation(s, contact, topic="billing", text="how do I pay?").id
    )
    message, _ = db.run(lambda s: post_message(s, staff, conversation_id, text="By transfer"))
    with db.transaction() as session:
        notice = session.execute(
            select(Notice).where(Notice.key == f"conversation-reply:{message.id}")
        ).scalar_one()
        assert notice.recipient == contact.contact_key
        assert notice.channel == "telegram"
        assert notice.status == "pending"
        assert notice_payload(notice)["text"] == "By transfer"


def test_a_rolled_back_reply_leaves_neither_the_message_nor_its_notice(db):
    contact = Actor.contact(unique_key("telegram:"), "telegram")
    staff = make_staff_actor(db)
    conversation_id = db.run(
        lambda s: open_conversation(s, contact, topic="internet", text="no signal").id
    )
    posted: list[int] = []

    def reply_then_fail(session):
        message, _ = post_message(session, staff, conversation_id, text="rebooting the router")
        posted.append(message.id)
        raise Boom

    with pytest.raises(Boom):
        db.run(reply_then_fail)
    with db.transaction() as session:
        assert session.get(Message, posted[0]) is None
    assert notices_with(db, f"conversation-reply:{posted[0]}") == 0


def test_a_reply_in_a_portal_conversation_goes_once_to_every_chat_of_the_customer(db):
    customer_id = make_customer(db)
    staff = make_staff_actor(db)
    conversation_id = db.run(
        lambda s: (
            open_conversation(
                s, Actor.customer(customer_id), topic="calls", text="a call dropped"
            ).id
        )
    )
    key = unique_key("reply")
    message, _ = db.run(
        lambda s: post_message(s, staff, conversation_id, text="refunded", message_key=key)
    )
    again, added = db.run(
        lambda s: post_message(s, staff, conversation_id, text="refunded", message_key=key)
    )
    assert (again.id, added) == (message.id, False)
    assert notices_with(db, f"conversation-reply:{message.id}") == 1
    with db.transaction() as session:
        notice = session.execute(
            select(Notice).where(Notice.key == f"conversation-reply:{message.id}")
        ).scalar_one()
        assert (notice.recipient, notice.channel) == (f"customer:{customer_id}", ALL_CHATS)
        assert notice_payload(notice)["elsewhere"] is True


def test_a_reply_in_a_linked_customers_chat_conversation_stays_in_that_chat_app(db):
    customer_id = make_customer(db)
    staff = make_staff_actor(db)
    conversation_id = db.run(
        lambda s: (
            open_conversation(
                s, Actor.customer(customer_id, channel="line"), topic="billing", text="saldo?"
            ).id
        )
    )
    message, _ = db.run(lambda s: post_message(s, staff, conversation_id, text="Rp 5.000"))
    with db.transaction() as session:
        notice = session.execute(
            select(Notice).where(Notice.key == f"conversation-reply:{message.id}")
        ).scalar_one()
        assert (notice.recipient, notice.channel) == (f"customer:{customer_id}", "line")
        assert notice_payload(notice)["elsewhere"] is False


def test_a_notice_key_is_never_enqueued_twice(db):
    key = unique_key("payment-confirmed")
    first, added = db.run(
        lambda s: enqueue_notice(s, key, "customer:1", "telegram", {"n": 1}, actor="test")
    )
    second, added_again = db.run(
        lambda s: enqueue_notice(s, key, "customer:1", "telegram", {"n": 2}, actor="test")
    )
    assert (added, added_again) == (True, False)
    assert second.id == first.id
    assert notices_with(db, key) == 1


def test_two_transactions_enqueuing_one_key_at_once_leave_one_notice(db):
    key = unique_key("race")
    start = threading.Barrier(2)
    outcomes: list[bool] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:

            def work(session):
                start.wait(timeout=10)
                return enqueue_notice(session, key, "staff:1", "telegram", {}, actor="test")[1]

            outcomes.append(db.run(work))
        except BaseException as error:  # reported below, not lost in the thread
            errors.append(error)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert sorted(outcomes) == [False, True]
    assert notices_with(db, key) == 1


def test_a_failed_notice_waits_longer_each_time_and_a_sent_one_is_no_longer_due(db):
    key = unique_key("retry")
    now = utcnow()
    db.run(lambda s: enqueue_notice(s, key, "staff:1", "line", {}, actor="test", now=now))

    def fail_once(session):
        notice = session.execute(select(Notice).where(Notice.key == key)).scalar_one()
        mark_failed(session, notice, "platform unreachable", now=now)
        return notice.next_attempt_at

    retry_at = db.run(fail_once)
    assert retry_at > now
    with db.transaction() as session:
        assert key not in [n.key for n in due_notices(session, now, limit=1000)]
        later = retry_at + timedelta(seconds=1)
        assert key in [n.key for n in due_notices(session, later, limit=1000)]
        notice = session.execute(select(Notice).where(Notice.key == key)).scalar_one()
        mark_sent(session, notice, later)
        assert key not in [n.key for n in due_notices(session, later, limit=1000)]
        assert (notice.attempts, notice.last_error) == (2, None)
