"""Notifications: each written in the transaction of its event (wallet services note the
event, messaging.notifications.watch turns it into a notice before the commit), each one
the customer can turn off, each in English and Indonesian."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import event, select

from messaging.models import Notice
from messaging.notifications import (
    KINDS,
    LOW_BALANCE,
    PACKAGE_ENDED,
    PACKAGE_ENDING,
    PAYMENT_CONFIRMED,
    PAYMENT_REJECTED,
    REGISTRATION_CONFIRMED,
    notify_packages_ending,
    render_notice,
    save_choices,
    watch,
)
from pulsa.settings import load_settings
from tests.conftest import make_account, unique_key
from tests.hotspot.builders import make_login, make_package
from wallet import ledger
from wallet.hotspot_models import Subscription
from wallet.internet import buy_package, process_due, start_subscription
from wallet.ledger import utcnow
from wallet.models import Account
from wallet.payments import PaymentRequest, confirm_payment, create_payment_request, reject_payment

RUPIAH = 1_000_000


class Boom(Exception):
    pass


@pytest.fixture
def watched(db):
    watch(db, load_settings({"PULSA_DATABASE_URL": db.url}))
    return db


def customer_of(db, account_id: int) -> int:
    return db.run(lambda s: s.get(Account, account_id).customer_id)


def notices_of(db, customer_id: int, kind: str | None = None) -> list[Notice]:
    with db.transaction() as session:
        statement = select(Notice).where(Notice.recipient == f"customer:{customer_id}")
        if kind:
            statement = statement.where(Notice.kind == kind)
        return list(session.execute(statement.order_by(Notice.id)).scalars())


def payment_request(db, account_id: int, amount: int = 50_000 * RUPIAH) -> int:
    return db.run(lambda s: create_payment_request(s, account_id, amount, source="portal").id)


def test_a_confirmed_payment_and_its_notice_commit_together(watched):
    account_id = make_account(watched)
    customer_id = customer_of(watched, account_id)
    request_id = payment_request(watched, account_id)

    watched.run(lambda s: confirm_payment(s, request_id, actor="web:andi"))

    (notice,) = notices_of(watched, customer_id, PAYMENT_CONFIRMED)
    assert notice.key == f"payment-confirmed:{request_id}"
    assert render_notice(notice, "en") == (
        "Your payment of IDR 50,000 is confirmed. Your balance is now IDR 50,000."
    )
    assert "dikonfirmasi" in render_notice(notice, "id")


def test_a_rolled_back_confirmation_leaves_neither_the_credit_nor_the_notice(watched):
    account_id = make_account(watched)
    customer_id = customer_of(watched, account_id)
    request_id = payment_request(watched, account_id)

    def confirm_then_fail(session):
        confirm_payment(session, request_id, actor="web:andi")
        raise Boom

    with pytest.raises(Boom):
        watched.run(confirm_then_fail)

    assert notices_of(watched, customer_id) == []
    with watched.transaction() as session:
        assert session.get(PaymentRequest, request_id).status == "pending"
        assert session.get(Account, account_id).balance == 0
    # The events of the failed transaction do not leak into the next one.
    watched.run(lambda s: ledger.top_up(s, account_id, RUPIAH, key=unique_key("after")))
    assert notices_of(watched, customer_id) == []


def test_a_rejected_payment_tells_the_reason_in_the_chats_language(watched):
    account_id = make_account(watched)
    customer_id = customer_of(watched, account_id)
    request_id = payment_request(watched, account_id)

    watched.run(
        lambda s: reject_payment(s, request_id, "the transfer did not arrive", actor="web:andi")
    )

    (notice,) = notices_of(watched, customer_id, PAYMENT_REJECTED)
    assert render_notice(notice, "en").endswith("rejected: the transfer did not arrive")
    assert render_notice(notice, "id").startswith("Pembayaran Anda sebesar IDR 50,000 ditolak")


def test_a_kind_the_customer_turned_off_is_not_written(watched):
    account_id = make_account(watched)
    customer_id = customer_of(watched, account_id)
    watched.run(lambda s: save_choices(s, customer_id, set(KINDS) - {PAYMENT_CONFIRMED}))
    request_id = payment_request(watched, account_id)

    watched.run(lambda s: confirm_payment(s, request_id, actor="web:andi"))

    assert notices_of(watched, customer_id) == []


def test_low_balance_is_told_once_each_time_the_balance_crosses_the_threshold(
    watched, admin_settings
):
    admin_settings(low_balance_threshold=10_000 * RUPIAH)
    account_id = make_account(watched, 30_000 * RUPIAH)
    customer_id = customer_of(watched, account_id)

    def spend(amount):
        watched.run(
            lambda s: ledger.spend(s, account_id, amount, key=unique_key("buy"), kind="package")
        )

    spend(15_000 * RUPIAH)  # 15,000 left: above
    assert notices_of(watched, customer_id, LOW_BALANCE) == []
    spend(6_000 * RUPIAH)  # 9,000: crossed
    spend(1_000 * RUPIAH)  # 8,000: still low, no second notice
    (notice,) = notices_of(watched, customer_id, LOW_BALANCE)
    assert render_notice(notice, "en").startswith("Your balance is low: IDR 9,000.")
    watched.run(lambda s: ledger.top_up(s, account_id, 20_000 * RUPIAH, key=unique_key("t")))
    spend(19_000 * RUPIAH)  # 28,000 -> 9,000: crossed again
    assert len(notices_of(watched, customer_id, LOW_BALANCE)) == 2


def test_a_debit_reads_the_threshold_at_most_every_few_seconds_not_at_each_commit(
    watched, admin_settings
):
    admin_settings(low_balance_threshold=10_000 * RUPIAH)
    account_id = make_account(watched, 30_000 * RUPIAH)
    customer_id = customer_of(watched, account_id)
    statements: list[str] = []

    def note(_conn, _cursor, statement, *_args):
        statements.append(statement)

    def spend(amount):
        watched.run(
            lambda s: ledger.spend(s, account_id, amount, key=unique_key("call"), kind="call")
        )

    spend(1_000 * RUPIAH)  # the first commit after the save reads the threshold
    event.listen(watched.engine, "before_cursor_execute", note)
    try:
        for _ in range(5):
            spend(1_000 * RUPIAH)  # 24,000 left: above the threshold
    finally:
        event.remove(watched.engine, "before_cursor_execute", note)
    assert [s for s in statements if "site_settings" in s] == []
    assert notices_of(watched, customer_id, LOW_BALANCE) == []
    # A change saved in this process applies at the next commit (others: within 5 s).
    admin_settings(low_balance_threshold=23_500 * RUPIAH)
    spend(1_000 * RUPIAH)  # 24,000 -> 23,000: crosses the new threshold
    assert len(notices_of(watched, customer_id, LOW_BALANCE)) == 1


def test_packages_ending_within_a_day_and_ended_are_told_once(watched):
    package_id = make_package(watched, price=1_000 * RUPIAH, name=unique_key("Harian")[:40])
    account_id, login_id = make_login(watched, 5_000 * RUPIAH)
    customer_id = customer_of(watched, account_id)
    subscription_id = watched.run(
        lambda s: buy_package(s, login_id, package_id, key=unique_key("sub")).id
    )
    # Its time starts when a router holds it; before that nothing ends.
    watched.run(lambda s: notify_packages_ending(s, now=utcnow() + timedelta(hours=1)))
    assert notices_of(watched, customer_id, PACKAGE_ENDING) == []
    watched.run(lambda s: start_subscription(s, subscription_id, utcnow()))
    ends_at = watched.run(lambda s: s.get(Subscription, subscription_id).ends_at)

    watched.run(lambda s: notify_packages_ending(s, now=ends_at - timedelta(hours=25)))
    assert notices_of(watched, customer_id, PACKAGE_ENDING) == []
    for _ in range(2):
        watched.run(lambda s: notify_packages_ending(s, now=ends_at - timedelta(hours=23)))
    (ending,) = notices_of(watched, customer_id, PACKAGE_ENDING)
    assert "Harian" in render_notice(ending, "en")

    watched.run(lambda s: process_due(s, now=ends_at + timedelta(seconds=1)))
    (ended,) = notices_of(watched, customer_id, PACKAGE_ENDED)
    assert render_notice(ended, "id").startswith("Paket Anda")


def test_every_kind_has_an_indonesian_text():
    from messaging.notifications import _TEXTS, gettext_for

    indonesian = gettext_for("id")
    for text in [*KINDS.values(), *_TEXTS.values()]:
        assert indonesian(text) != text, text
    assert REGISTRATION_CONFIRMED in KINDS


def test_a_customer_who_turned_replies_off_gets_none_in_the_chat_but_others_do(db):
    from messaging.actors import Actor
    from messaging.conversations import open_conversation, post_message
    from messaging.notifications import STAFF_REPLY
    from tests.messaging.builders import make_customer, make_staff_actor

    staff = make_staff_actor(db)
    quiet, chatty = make_customer(db), make_customer(db)
    db.run(lambda s: save_choices(s, quiet, set(KINDS) - {STAFF_REPLY}))
    for customer_id in (quiet, chatty):
        conversation_id = db.run(
            lambda s, c=customer_id: (
                open_conversation(s, Actor.customer(c, "telegram"), topic="billing", text="halo").id
            )
        )
        db.run(lambda s, c=conversation_id: post_message(s, staff, c, text="siap"))

    assert notices_of(db, quiet) == []
    (reply,) = notices_of(db, chatty)
    assert reply.kind == STAFF_REPLY and render_notice(reply, "id") == "siap"


def test_a_confirmed_registration_tells_the_login_name_and_never_the_password(watched):
    from wallet.internet import confirm_registration, register_for_hotspot

    package_id = make_package(watched, price=1_000 * RUPIAH, name=unique_key("Mingguan")[:40])
    username = unique_key("budi").replace("-", "")[:30]
    login = watched.run(
        lambda s: register_for_hotspot(
            s,
            name="Budi",
            username=username,
            package=package_id,
            currency="IDR",
            password="rahasia-sekali-123",
        )
    )
    watched.run(
        lambda s: confirm_registration(s, login.id, amount=1_000 * RUPIAH, actor="web:andi")
    )
    watched.run(  # confirmed twice: one notice
        lambda s: confirm_registration(s, login.id, amount=1_000 * RUPIAH, actor="web:andi")
    )

    (notice,) = notices_of(watched, login.customer_id, REGISTRATION_CONFIRMED)
    for language in ("en", "id"):
        text = render_notice(notice, language)
        assert username in text and "Mingguan" in text
        assert "rahasia" not in text and "rahasia" not in notice.payload
