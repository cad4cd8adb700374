"""The customer dialogue where money moves: balance, history, packages bought with a
confirmation button, vouchers, top-up requests with the photo of the receipt; a chat
linked to nobody or to a disabled customer touches no money."""

from __future__ import annotations

from sqlalchemy import func, select

from messaging.models import Conversation
from tests.bots.builders import (
    RUPIAH,
    a_bank_account,
    a_voucher,
    linked_customer,
    make_package,
)
from tests.bots.conftest import texts
from tests.hotspot.builders import balance_of
from tests.messaging.builders import PNG
from wallet.hotspot_models import Subscription
from wallet.models import Account, Customer, LedgerEntry
from wallet.payments import PaymentRequest, confirm_payment
from wallet.staff import AuditRecord


def buttons(replies) -> list:
    return [button for reply in replies for row in reply.buttons for button in row]


def button(replies, starting: str):
    return next(b for b in buttons(replies) if b.data.startswith(starting))


def test_the_balance_shows_the_credit_and_what_is_available(db, new_chat):
    me = linked_customer(db, new_chat, 25_000 * RUPIAH)
    answer = texts(me.chat.send("/saldo"))
    assert "Your credit: IDR 25,000" in answer
    assert "Available now: IDR 25,000" in answer


def test_the_balance_in_indonesian_groups_digits_the_indonesian_way(db, new_chat):
    me = linked_customer(db, new_chat, 25_000 * RUPIAH, language="id")
    assert "Saldo Anda: Rp25.000" in texts(me.chat.send("/balance"))


def test_credit_held_by_a_live_call_is_shown_as_such(db, new_chat):
    from wallet import ledger

    me = linked_customer(db, new_chat, 10_000 * RUPIAH)
    db.run(lambda s: ledger.open_hold(s, me.account_id, 3_000 * RUPIAH, reference="call-x"))
    answer = texts(me.chat.press("balance"))
    assert "Held by sessions in progress: IDR 3,000" in answer
    assert "Available now: IDR 7,000" in answer


def test_the_history_tells_the_last_entries_in_plain_words(db, new_chat):
    me = linked_customer(db, new_chat, 10_000 * RUPIAH)
    me.chat.send(f"/voucher {a_voucher(db, 2_000 * RUPIAH)}")
    answer = texts(me.chat.send("/riwayat"))
    assert "Voucher  +IDR 2,000" in answer
    assert "Balance: IDR 12,000" in answer


def test_a_package_is_bought_once_with_the_confirmation_button_pressed_twice(db, new_chat):
    me = linked_customer(db, new_chat, 20_000 * RUPIAH)
    package = make_package(db, price=5_000 * RUPIAH)
    offer = me.chat.send("/paket")
    confirmation = me.chat.press(button(offer, f"buy:{package}").data)
    assert "for IDR 5,000 from your credit?" in texts(confirmation)
    yes = button(confirmation, f"ok:{package}:{me.login_id}:")
    first = texts(me.chat.press(yes.data))
    second = texts(me.chat.press(yes.data))
    assert "Bought:" in first and "Password: wifi1234" in first
    assert "nothing more was charged" in second and "Password: wifi1234" in second
    assert balance_of(db, me.account_id) == 15_000 * RUPIAH
    with db.transaction() as s:
        count = s.execute(
            select(func.count(Subscription.id)).where(Subscription.login_id == me.login_id)
        ).scalar_one()
        actor = s.execute(
            select(LedgerEntry.actor).where(
                LedgerEntry.account_id == me.account_id, LedgerEntry.kind == "package"
            )
        ).scalar_one()
    assert count == 1
    assert actor == f"telegram:customer:{me.customer_id}"


def test_a_package_the_credit_cannot_pay_says_what_is_missing_and_charges_nothing(db, new_chat):
    me = linked_customer(db, new_chat, 1_000 * RUPIAH)
    package = make_package(db, price=5_000 * RUPIAH)
    offer = texts(me.chat.send("/packages"))
    assert "(top up IDR 4,000 more)" in offer
    nonce_press = me.chat.press(f"ok:{package}:{me.login_id}:abc123")
    assert "Not enough credit" in texts(nonce_press)
    assert balance_of(db, me.account_id) == 1_000 * RUPIAH


def test_another_customers_login_in_a_button_buys_nothing(db, new_chat):
    me = linked_customer(db, new_chat, 20_000 * RUPIAH)
    other = linked_customer(db, new_chat, 20_000 * RUPIAH)
    package = make_package(db, price=5_000 * RUPIAH)
    answer = me.chat.press(f"ok:{package}:{other.login_id}:abc123")
    assert "Bought" not in texts(answer)
    assert balance_of(db, other.account_id) == balance_of(db, me.account_id) == 20_000 * RUPIAH


def test_a_voucher_is_redeemed_once(db, new_chat):
    me = linked_customer(db, new_chat, 0)
    code = a_voucher(db, 3_000 * RUPIAH)
    me.chat.send("/voucher")
    assert "IDR 3,000 added to your credit" in texts(me.chat.send(code.lower()))
    assert "redeemed already" in texts(me.chat.send(f"/voucher {code}"))
    assert "No voucher with this code" in texts(me.chat.send("/voucher NOPE-NOPE"))
    assert balance_of(db, me.account_id) == 3_000 * RUPIAH


def test_a_top_up_request_with_its_receipt_reaches_payments_and_staff_confirm_it(db, new_chat):
    me = linked_customer(db, new_chat, 0)
    bank = a_bank_account(db)
    asked = texts(me.chat.send("/topup"))
    assert "Write the amount" in asked
    assert "not an amount" in texts(me.chat.send("fifty"))
    instructions = texts(me.chat.send("Rp 50.000"))
    assert "Top-up of IDR 50,000." in instructions and bank in instructions
    assert "PNG, JPEG or GIF" in texts(me.chat.send(photo=b"not an image"))
    assert "Sent." in texts(me.chat.send(photo=PNG))
    with db.transaction() as s:
        [request] = s.execute(
            select(PaymentRequest).where(PaymentRequest.account_id == me.account_id)
        ).scalars()
        assert (request.amount, request.source, request.status) == (
            50_000 * RUPIAH,
            "chat",
            "pending",
        )
        assert request.proof_path
        request_id = request.id
        asked_by = s.execute(
            select(AuditRecord.actor).where(
                AuditRecord.action == "payment.request",
                AuditRecord.target == f"payment request {request_id}",
            )
        ).scalar_one()
        assert asked_by == f"telegram:customer:{me.customer_id}"
    db.run(lambda s: confirm_payment(s, request_id, actor="web:cashier"))
    assert balance_of(db, me.account_id) == 50_000 * RUPIAH
    assert "Your credit: IDR 50,000" in texts(me.chat.send("/saldo"))


def test_a_top_up_amount_can_come_with_the_command(db, new_chat):
    me = linked_customer(db, new_chat, 0)
    assert "Top-up of IDR 20,000." in texts(me.chat.send("/topup 20000"))
    assert "Cancelled." in texts(me.chat.press("cancel"))
    me.chat.send(photo=PNG)  # no longer a receipt: it goes to the operator
    with db.transaction() as s:
        assert (
            s.execute(
                select(func.count(PaymentRequest.id)).where(
                    PaymentRequest.account_id == me.account_id
                )
            ).scalar_one()
            == 0
        )
        assert s.execute(
            select(Conversation.id).where(Conversation.customer_id == me.customer_id)
        ).scalar_one()


def test_a_chat_linked_to_nobody_touches_no_money(db, new_chat):
    stranger = new_chat()
    package = make_package(db, price=1 * RUPIAH)
    for attempt in ("/saldo", "/paket", "/topup 5000", f"/voucher {a_voucher(db, RUPIAH)}"):
        assert "First link this chat" in texts(stranger.send(attempt))
    assert "First link this chat" in texts(stranger.press(f"ok:{package}:1:abc"))


def test_a_disabled_customer_touches_no_money(db, new_chat):
    me = linked_customer(db, new_chat, 10_000 * RUPIAH)
    package = make_package(db, price=1_000 * RUPIAH)

    def disable(s):
        s.get(Customer, me.customer_id).status = "disabled"

    db.run(disable)
    assert "disabled" in texts(me.chat.press(f"ok:{package}:{me.login_id}:abc"))
    assert "disabled" in texts(me.chat.send(f"/voucher {a_voucher(db, RUPIAH)}"))
    assert balance_of(db, me.account_id) == 10_000 * RUPIAH


def test_a_blocked_wallet_buys_nothing_but_shows_its_balance(db, new_chat):
    me = linked_customer(db, new_chat, 10_000 * RUPIAH)
    package = make_package(db, price=1_000 * RUPIAH)

    def block(s):
        s.get(Account, me.account_id).status = "blocked"

    db.run(block)
    assert "Your wallet is blocked" in texts(me.chat.press(f"ok:{package}:{me.login_id}:a1"))
    assert "Your credit: IDR 10,000" in texts(me.chat.send("/saldo"))


def test_forgot_the_password_gets_a_new_portal_link(db, new_chat):
    me = linked_customer(db, new_chat, 0)
    assert "https://portal.example.net/welcome/" in texts(me.chat.send("/portal"))


def test_the_language_is_switched_for_the_chat(db, new_chat):
    me = linked_customer(db, new_chat, 1_000 * RUPIAH)
    assert "Bahasa Indonesia" in [b.label for b in buttons(me.chat.send("/bahasa"))]
    me.chat.press("lang:id")
    assert "Saldo Anda" in texts(me.chat.send("/saldo"))


def test_free_text_goes_into_the_customers_conversation(db, new_chat):
    me = linked_customer(db, new_chat, 0)
    me.chat.send("My internet is slow since yesterday")
    me.chat.send("Still slow")
    with db.transaction() as s:
        [conversation] = s.execute(
            select(Conversation).where(Conversation.customer_id == me.customer_id)
        ).scalars()
        assert conversation.contact_key is None and conversation.channel == "telegram"


def _at_once(*calls):
    """Run the calls in threads started together; their results in order."""
    import threading

    results: list = [None] * len(calls)
    start = threading.Barrier(len(calls))

    def run(index, call):
        start.wait()
        results[index] = call()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return results


def test_one_update_delivered_twice_at_the_same_moment_buys_once(db, new_chat):
    me = linked_customer(db, new_chat, 20_000 * RUPIAH)
    package = make_package(db, price=5_000 * RUPIAH)
    update = me.chat.incoming(button=f"ok:{package}:{me.login_id}:twice1")
    first, second = _at_once(lambda: me.chat.again(update), lambda: me.chat.again(update))
    assert sorted([bool(first), bool(second)]) == [False, True]
    assert balance_of(db, me.account_id) == 15_000 * RUPIAH


def test_the_confirmation_pressed_twice_at_the_same_moment_buys_once(db, new_chat):
    me = linked_customer(db, new_chat, 20_000 * RUPIAH)
    package = make_package(db, price=5_000 * RUPIAH)
    data = f"ok:{package}:{me.login_id}:both22"
    answers = _at_once(lambda: me.chat.press(data), lambda: me.chat.press(data))
    assert all("Password: wifi1234" in texts(answer) for answer in answers)
    assert balance_of(db, me.account_id) == 15_000 * RUPIAH


def _stored_files(settings) -> list:
    from pathlib import Path

    return sorted(p for p in Path(settings.upload_folder).rglob("*") if p.is_file())


def test_a_receipt_no_request_keeps_is_not_left_on_disk(db, new_chat, bot_settings):
    me = linked_customer(db, new_chat, 0)
    me.chat.send("/topup 30000")
    me.chat.send(photo=PNG)
    assert len(_stored_files(bot_settings)) == 1
    me.chat.again(me.chat.sent[-1])  # the same update again: handled before
    me.chat.send("/topup 30000")
    assert "sent already" in texts(me.chat.send(photo=PNG))  # answered by the first
    assert len(_stored_files(bot_settings)) == 1
    me.chat.send(photo=PNG)  # a photo for the operator is kept with its message
    assert len(_stored_files(bot_settings)) == 2


def test_a_package_bought_with_no_router_says_in_the_chat_that_it_waits_for_the_router(
    db, new_chat
):
    from tests.conftest import unique_key
    from wallet.internet import buy_package

    me = linked_customer(db, new_chat, 10_000 * RUPIAH)
    package = make_package(db, 3_000 * RUPIAH)
    db.run(lambda s: buy_package(s, me.login_id, package, key=unique_key("chat")))
    answer = texts(me.chat.send("/saldo"))
    assert "waiting for the router: its time starts once a router has it" in answer
    assert " until " not in answer


def test_a_package_voucher_starts_its_package_on_the_customers_only_login(db, new_chat):
    me = linked_customer(db, new_chat, 1_000 * RUPIAH)
    package = make_package(db, price=5_000 * RUPIAH)
    code = a_voucher(db, 5_000 * RUPIAH, package=package)
    answer = texts(me.chat.send(f"/voucher {code}"))
    assert "added to" in answer and "Bought" not in answer
    assert "redeemed already" in texts(me.chat.send(f"/voucher {code}"))
    assert balance_of(db, me.account_id) == 1_000 * RUPIAH  # nothing credited, nothing paid
    with db.transaction() as s:
        assert s.execute(
            select(Subscription).where(
                Subscription.login_id == me.login_id, Subscription.package_id == package
            )
        ).scalar_one()


def test_with_several_logins_the_customer_presses_the_one_that_gets_the_package(db, new_chat):
    from wallet.internet import create_login

    me = linked_customer(db, new_chat, 0)
    other = linked_customer(db, new_chat, 0)
    second = db.run(lambda s: create_login(s, me.customer_id, f"dua{me.login_id}", "wifi5678").id)
    package = make_package(db, price=5_000 * RUPIAH)
    code = a_voucher(db, 5_000 * RUPIAH, package=package)
    choice = me.chat.send(f"/voucher {code}")
    assert {b.data for b in buttons(choice)} >= {f"vlogin:{me.login_id}", f"vlogin:{second}"}
    assert all(code not in b.data for b in buttons(choice)), "the code stays out of buttons"
    assert "expired" in texts(me.chat.press(f"vlogin:{other.login_id}"))
    choice = me.chat.send(f"/voucher {code}")
    assert "added to dua" in texts(me.chat.press(f"vlogin:{second}"))
    with db.transaction() as s:
        subscription = s.execute(
            select(Subscription).where(Subscription.package_id == package)
        ).scalar_one()
        assert subscription.login_id == second


def test_credit_held_by_a_call_in_progress_is_shown_as_the_calls(db, new_chat):
    from wallet import ledger
    from wallet.ledger import utcnow
    from wallet.models import Call

    me = linked_customer(db, new_chat, 10_000 * RUPIAH)

    def call_in_progress(s):
        hold = ledger.open_hold(s, me.account_id, 2_500 * RUPIAH, reference="call-live")
        s.add(
            Call(
                account_id=me.account_id,
                hold_id=hold.id,
                uniqueid=f"live-{hold.id}",
                dialled="6281234567890",
                status="answered",
                authorized_at=utcnow(),
            )
        )

    db.run(call_in_progress)
    answer = texts(me.chat.send("/balance"))
    assert "Held by calls in progress (1): IDR 2,500" in answer
    assert "Available now: IDR 7,500" in answer
