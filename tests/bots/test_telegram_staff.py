"""The staff's chat through the real python-telegram-bot client (bots.telegram) against
the loopback fake Bot API (tests/bots/fake_telegram.py, standing for Telegram): a staff
member links their Telegram with the token of their admin profile, confirms a payment
with its inline button (and one whose role only lets them see payments is refused, the
payment untouched), and a voucher batch comes back as a document."""

from __future__ import annotations

import itertools

from sqlalchemy import select

from messaging.chats import find_link, issue_link_token
from tests.bots.test_staff import payment_request, request_status, staff_member
from tests.bots.test_telegram_flows import inline_data, telegram  # noqa: F401  the fixture
from tests.hotspot.builders import RUPIAH, balance_of, make_package
from wallet.hotspot_models import Voucher
from wallet.staff import AuditRecord

pytest_plugins = ["tests.bots.outbox_builders"]

_chats = itertools.count(890_000_001)


def linked_staff(telegram, grants) -> tuple[int, str]:  # noqa: F811
    staff_id, username = staff_member(telegram.db, grants)
    token, _ = telegram.db.run(
        lambda s: issue_link_token(s, "telegram", actor="test", staff_id=staff_id)
    )
    chat = next(_chats)
    [linked] = telegram.say(chat, f"/start {token}", language_code="en")
    assert "staff account" in linked.text
    with telegram.db.transaction() as session:
        assert find_link(session, "telegram", str(chat)).staff_id == staff_id
    return chat, username


def test_a_payment_confirmed_from_telegram_with_its_button(telegram):  # noqa: F811
    chat, username = linked_staff(telegram, {"payments": "change"})
    account_id, request_id = payment_request(telegram.db, 40_000 * RUPIAH)
    messages = telegram.say(chat, "/payments", language_code="en", expect=2)
    [listed] = [m for m in messages if f"Payment {request_id}:" in m.text]
    assert f"pay_ok:{request_id}" in inline_data(listed)

    [answer] = telegram.say(
        chat, button=f"pay_ok:{request_id}", message_id=listed.result["message_id"]
    )

    assert "Confirmed: IDR 40,000 credited" in answer.text
    assert request_status(telegram.db, request_id) == "confirmed"
    assert balance_of(telegram.db, account_id) == 40_000 * RUPIAH
    with telegram.db.transaction() as session:
        actors = session.execute(
            select(AuditRecord.actor).where(
                AuditRecord.action == "payment.confirm",
                AuditRecord.target == f"payment request {request_id}",
            )
        ).scalars()
        assert list(actors) == [f"telegram:{username}"]
    assert max(telegram.latencies) < 10.0  # a hang; bench/bot.py measures the 2 s target


def test_a_payment_button_pressed_without_the_permission_changes_nothing(telegram):  # noqa: F811
    chat, username = linked_staff(telegram, {"payments": "view"})
    account_id, request_id = payment_request(telegram.db, 40_000 * RUPIAH)
    messages = telegram.say(chat, "/payments", language_code="en", expect=2)
    assert all(not inline_data(m) for m in messages)

    [answer] = telegram.say(chat, button=f"pay_ok:{request_id}")

    assert "does not allow this" in answer.text
    assert request_status(telegram.db, request_id) == "pending"
    assert balance_of(telegram.db, account_id) == 0
    with telegram.db.transaction() as session:
        assert not session.execute(
            select(AuditRecord.id).where(AuditRecord.actor == f"telegram:{username}")
        ).first()


def test_a_voucher_batch_arrives_as_a_document(telegram):  # noqa: F811
    package_id = make_package(telegram.db, 5_000 * RUPIAH)
    chat, _username = linked_staff(telegram, {"vouchers": "change"})
    telegram.say(chat, "/vouchers", language_code="en")
    telegram.say(chat, button=f"vb:{package_id}")

    [document] = telegram.say(chat, "2", language_code="en")

    assert document.method == "sendDocument"
    [(filename, content)] = document.files.values()
    assert filename.startswith("vouchers-batch-") and filename.endswith(".html")
    assert "The printable sheet is attached" in document.params["caption"]
    with telegram.db.transaction() as session:
        codes = session.execute(
            select(Voucher.code).join(Voucher.batch).where(Voucher.batch.has(package_id=package_id))
        ).scalars()
        assert all(code.encode() in content for code in codes)
