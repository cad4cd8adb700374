"""The staff's chat, through the dialogue (bots.dialogue.handle, no platform): what a
staff member may do follows their role in the admin, every action is audited under
`telegram:<user>`, and without the permission nothing is done. Routers are the RouterOS
emulator (tests/hotspot/router.py) through the real librouteros client."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from hotspot.credentials import RouterKeyring, generate_key
from messaging.chats import find_link, issue_link_token
from pulsa.settings import load_settings
from tests.bots.conftest import FakeChat, texts
from tests.conftest import make_account, unique_key
from tests.hotspot.builders import RUPIAH, balance_of, make_login, make_package
from tests.hotspot.router import ACTIVE, HotspotRouter, register
from wallet.hotspot_models import HotspotLogin, Voucher, VoucherBatch
from wallet.internet import register_for_hotspot
from wallet.models import Account
from wallet.payments import PaymentRequest, create_payment_request
from wallet.staff import AuditRecord, create_staff, save_role, update_staff


@pytest.fixture
def router_key():
    return generate_key()


@pytest.fixture
def staff_settings(db, tmp_path, router_key):
    return load_settings(
        {
            "PULSA_DATABASE_URL": db.url,
            "PULSA_UPLOAD_FOLDER": str(tmp_path / "uploads"),
            "PULSA_PORTAL_URL": "https://portal.example.net",
            "PULSA_ROUTER_KEY": router_key,
            "PULSA_ROUTER_TIMEOUT_SECONDS": "2",
            "PULSA_HOTSPOT_BRAND_NAME": "RW 07 Net",
        }
    )


def staff_member(db, grants: dict[str, str] | None = None, **options) -> tuple[int, str]:
    """A staff member with a role holding `grants` (None: a super admin)."""
    username = unique_key("op").replace("-", "")[:40]

    def work(session):
        role = None
        if grants is not None:
            role = unique_key("role")
            save_role(session, role, grants, actor="test")
        return create_staff(
            session,
            username,
            "correct horse battery",
            role=role,
            is_superuser=grants is None,
            actor="test",
            **options,
        ).id

    return db.run(work), username


def staff_chat(db, settings, grants=None, language="en", **options) -> tuple[FakeChat, str, int]:
    """A chat linked to a new staff member through their one-time link."""
    staff_id, username = staff_member(db, grants, **options)
    token, _ = db.run(lambda s: issue_link_token(s, "telegram", actor="test", staff_id=staff_id))
    chat = FakeChat(db, settings, language=language)
    chat.send(f"/start {token}")
    with db.transaction() as session:
        assert find_link(session, "telegram", chat.chat_id).staff_id == staff_id
    return chat, username, staff_id


def audit(db, actor: str, action: str | None = None) -> list[AuditRecord]:
    with db.transaction() as session:
        statement = select(AuditRecord).where(AuditRecord.actor == actor)
        if action is not None:
            statement = statement.where(AuditRecord.action == action)
        return list(session.execute(statement.order_by(AuditRecord.id)).scalars())


def payment_request(db, amount=25_000 * RUPIAH) -> tuple[int, int]:
    account_id = make_account(db, name="Payer")
    request_id = db.run(lambda s: create_payment_request(s, account_id, amount).id)
    return account_id, request_id


def request_status(db, request_id: int) -> str:
    with db.transaction() as session:
        return session.get(PaymentRequest, request_id).status


def button(replies, data_prefix: str) -> str:
    for reply in replies:
        for row in reply.buttons:
            for b in row:
                if b.data.startswith(data_prefix):
                    return b.data
    raise AssertionError(f"no button {data_prefix!r} in {replies!r}")


# --- payments -----------------------------------------------------------------------------


def test_staff_who_may_confirm_payments_confirm_one_from_the_chat(db, staff_settings):
    chat, username, _ = staff_chat(db, staff_settings, {"payments": "change"})
    account_id, request_id = payment_request(db)
    listed = chat.send("/payments")
    assert f"Payment {request_id}:" in texts(listed)
    confirm = button(listed, f"pay_ok:{request_id}")

    replies = chat.press(confirm)

    assert "Confirmed: IDR 25,000 credited" in texts(replies)
    assert request_status(db, request_id) == "confirmed"
    assert balance_of(db, account_id) == 25_000 * RUPIAH
    [record] = audit(db, f"telegram:{username}", "payment.confirm")
    assert record.target == f"payment request {request_id}"
    assert "confirmed already" in texts(chat.press(confirm))
    assert balance_of(db, account_id) == 25_000 * RUPIAH


def test_staff_who_may_only_see_payments_are_refused_and_nothing_changes(db, staff_settings):
    chat, username, _ = staff_chat(db, staff_settings, {"payments": "view"})
    account_id, request_id = payment_request(db)
    listed = chat.send("/payments")
    assert f"Payment {request_id}:" in texts(listed)
    assert all(not r.buttons for r in listed), "no Confirm button for who may not confirm"

    replies = chat.press(f"pay_ok:{request_id}")  # a forged or stale button

    assert "does not allow this" in texts(replies)
    assert request_status(db, request_id) == "pending"
    assert balance_of(db, account_id) == 0
    assert audit(db, f"telegram:{username}") == []


def test_staff_without_the_payments_screen_do_not_even_see_them(db, staff_settings):
    chat, _username, _ = staff_chat(db, staff_settings, {"customers": "view"})
    assert "does not allow this" in texts(chat.send("/pembayaran"))


def test_rejecting_a_payment_asks_the_reason_the_customer_reads(db, staff_settings):
    chat, username, _ = staff_chat(db, staff_settings, {"payments": "change"})
    _account, request_id = payment_request(db)
    assert "Why is payment" in texts(chat.press(f"pay_no:{request_id}"))
    assert request_status(db, request_id) == "pending"
    assert "rejected" in texts(chat.send("The transfer never arrived"))
    with db.transaction() as session:
        request = session.get(PaymentRequest, request_id)
        assert (request.status, request.reject_reason) == ("rejected", "The transfer never arrived")
        assert request.decided_by == f"telegram:{username}"


def test_another_button_leaves_the_question_of_the_reason(db, staff_settings):
    chat, _username, _ = staff_chat(db, staff_settings, {"payments": "change"})
    _account, first = payment_request(db)
    _account, second = payment_request(db)
    chat.press(f"pay_no:{first}")
    chat.press(f"pay_ok:{second}")
    chat.send("This text is no reason for anything")
    assert (request_status(db, first), request_status(db, second)) == ("pending", "confirmed")


def test_a_role_taken_away_while_the_reason_is_typed_rejects_nothing(db, staff_settings):
    chat, _username, staff_id = staff_chat(db, staff_settings, {"payments": "change"})
    _account, request_id = payment_request(db)
    chat.press(f"pay_no:{request_id}")
    staff_member(db)  # a super admin remains, whatever the other tests did
    db.run(lambda s: update_staff(s, staff_id, actor="test", role=""))
    assert "does not allow this" in texts(chat.send("Too late"))
    assert request_status(db, request_id) == "pending"


def test_a_disabled_staff_account_can_do_nothing_from_its_chat(db, staff_settings):
    chat, _username, staff_id = staff_chat(db, staff_settings)
    _account, request_id = payment_request(db)
    staff_member(db)  # a super admin remains, whatever the other tests did
    db.run(lambda s: update_staff(s, staff_id, actor="test", is_active=False))
    assert "disabled or gone" in texts(chat.press(f"pay_ok:{request_id}"))
    assert request_status(db, request_id) == "pending"


# --- registrations ------------------------------------------------------------------------


def registration(db, price=10_000 * RUPIAH) -> tuple[int, str]:
    package_id = make_package(db, price, name=unique_key("Mingguan"))
    username = unique_key("reg").replace("-", "")[:30]
    login_id = db.run(
        lambda s: (
            register_for_hotspot(
                s, name="Sari", username=username, package=package_id, currency="IDR"
            ).id
        )
    )
    return login_id, username


def test_a_registration_confirmed_from_the_chat_is_paid_once(db, staff_settings):
    chat, staff_name, _ = staff_chat(db, staff_settings, {"registrations": "change"})
    login_id, username = registration(db)
    listed = chat.send("/pendaftaran")
    assert username in texts(listed)
    confirm = button(listed, f"reg_ok:{login_id}:b")

    confirmed = texts(chat.press(confirm))
    assert "Confirmed: IDR 10,000 credited" in confirmed
    # No router has taken its package yet: no end date is promised.
    assert "its package's time starts then" in confirmed and "runs until" not in confirmed
    assert "confirmed already" in texts(chat.press(confirm))

    with db.transaction() as session:
        login = session.get(HotspotLogin, login_id)
        assert login.status == "active"
        account = session.execute(
            select(Account).where(Account.customer_id == login.customer_id)
        ).scalar_one()
        # Paid 10,000 and spent on the package: nothing left, nothing twice.
        assert account.balance == 0
    [record] = audit(db, f"telegram:{staff_name}", "registration.confirm")
    assert record.after_data()["method"] == "bank_transfer"


def test_a_registration_rejected_from_the_chat_keeps_the_reason(db, staff_settings):
    chat, staff_name, _ = staff_chat(db, staff_settings, {"registrations": "change"})
    login_id, _username = registration(db)
    assert "Why is this registration rejected" in texts(chat.press(f"reg_no:{login_id}"))
    assert "Registration rejected" in texts(chat.send("Nobody paid"))
    assert db.run(lambda s: s.get(HotspotLogin, login_id).status) == "void"
    [record] = audit(db, f"telegram:{staff_name}", "registration.reject")
    assert record.after_data()["reason"] == "Nobody paid"


def test_seeing_registrations_is_not_confirming_them(db, staff_settings):
    chat, staff_name, _ = staff_chat(db, staff_settings, {"registrations": "view"})
    login_id, _username = registration(db)
    assert all(not r.buttons for r in chat.send("/registrations"))
    assert "does not allow this" in texts(chat.press(f"reg_ok:{login_id}:c"))
    assert db.run(lambda s: s.get(HotspotLogin, login_id).status) == "pending"
    assert audit(db, f"telegram:{staff_name}") == []


# --- customers and top-ups ----------------------------------------------------------------


def test_a_top_up_from_the_chat_credits_once_and_is_audited(db, staff_settings):
    chat, username, _ = staff_chat(db, staff_settings, {"customers": "view", "top_up": "view"})
    name = unique_key("Dewi Lestari")
    account_id = make_account(db, name=name)
    found = chat.send(f"/pelanggan {name}")
    assert f"account {account_id}" in texts(found)
    assert "How much" in texts(chat.press(button(found, f"topup:{account_id}")))
    asked = chat.send("Rp 50.000")
    assert "Top up IDR 50,000" in texts(asked)
    assert balance_of(db, account_id) == 0, "nothing before the confirmation"
    confirm = button(asked, "tu_ok:")

    assert "IDR 50,000 credited" in texts(chat.press(confirm))
    assert "nothing more was credited" in texts(chat.press(confirm))

    assert balance_of(db, account_id) == 50_000 * RUPIAH
    [record] = audit(db, f"telegram:{username}", "wallet.top_up")
    assert record.target == f"account {account_id}"
    assert record.after_data()["method"] == "cash"


def test_an_amount_that_is_not_one_is_asked_again(db, staff_settings):
    chat, _username, _ = staff_chat(db, staff_settings, {"customers": "view", "top_up": "view"})
    account_id = make_account(db, name=unique_key("Eko"))
    chat.press(f"topup:{account_id}")
    assert "Not an amount" in texts(chat.send("lima puluh ribu"))
    assert "more than zero" in texts(chat.send("0"))
    assert "Top up IDR 1,500" in texts(chat.send("1.500"))


def test_finding_customers_without_the_top_up_job_offers_no_top_up(db, staff_settings):
    chat, username, _ = staff_chat(db, staff_settings, {"customers": "view"})
    name = unique_key("Fajar")
    account_id = make_account(db, name=name)
    found = chat.send(f"/customer {name}")
    assert all(not r.buttons for r in found)
    assert "does not allow this" in texts(chat.press(f"topup:{account_id}"))
    assert audit(db, f"telegram:{username}") == []


# --- routers ---------------------------------------------------------------------------------


@pytest.fixture
def router():
    with HotspotRouter(identity="RW-07") as emulator:
        yield emulator


def test_router_status_and_a_ping_from_the_chat(db, staff_settings, router, router_key):
    router_id = register(db, RouterKeyring(router_key), router, name=unique_key("rw07"))
    router.login_hotspot_user("andi")
    router.ping_times["8.8.8.8"] = "12ms500us"
    chat, username, _ = staff_chat(db, staff_settings, {"routers": "change"})

    status = chat.send("/routers")

    mine = [r for r in status if r.text.startswith("rw07") and "up ·" in r.text]
    assert mine, texts(status)
    assert "CPU 3%" in mine[0].text and "1 online" in mine[0].text
    assert "53% used of 256 MB" in mine[0].text and "9d 3h" in mine[0].text
    assert "Which address" in texts(chat.press(f"ping:{router_id}"))
    result = texts(chat.send("8.8.8.8"))
    assert "4 sent, 4 received (0% lost)" in result and "12.5/12.5/12.5 ms" in result
    [record] = audit(db, f"telegram:{username}", "router.ping")
    assert record.after_data()["received"] == 4


def test_staff_who_may_only_see_routers_may_not_ping(db, staff_settings, router, router_key):
    router_id = register(db, RouterKeyring(router_key), router)
    chat, _username, _ = staff_chat(db, staff_settings, {"routers": "view"})
    assert "does not allow this" in texts(chat.press(f"ping:{router_id}"))
    assert not [c for c in router.commands if c.command == "/ping"]


# --- hotspot users ----------------------------------------------------------------------------


def test_a_hotspot_user_disabled_enabled_and_kicked_from_the_chat(
    db, staff_settings, router, router_key
):
    register(db, RouterKeyring(router_key), router)
    _account, login_id = make_login(db)
    username = db.run(lambda s: s.get(HotspotLogin, login_id).username)
    router.login_hotspot_user(username)
    chat, staff_name, _ = staff_chat(db, staff_settings, {"subscriptions": "change"})

    shown = chat.send(f"/user {username}")
    assert "active" in texts(shown)
    assert "disabled" in texts(chat.press(button(shown, "hs_off:")))
    assert db.run(lambda s: s.get(HotspotLogin, login_id).status) == "disabled"
    assert "1 session(s) ended" in texts(chat.press(button(shown, "hs_kick:")))
    assert router.rows(ACTIVE) == []
    chat.press(button(shown, "hs_on:"))
    assert db.run(lambda s: s.get(HotspotLogin, login_id).status) == "active"
    actions = [r.action for r in audit(db, f"telegram:{staff_name}")]
    assert actions == ["hotspot_login.status", "hotspot_login.kick", "hotspot_login.status"]


# --- vouchers and the summary ------------------------------------------------------------------


def test_a_voucher_batch_comes_back_as_its_printable_sheet(db, staff_settings):
    package_id = make_package(db, 5_000 * RUPIAH, name=unique_key("Harian"))
    chat, username, _ = staff_chat(db, staff_settings, {"vouchers": "change"})
    # The menu lists the packages on sale (the shared database has many: pressed directly).
    assert "Vouchers of which package?" in texts(chat.send("/vouchers"))
    assert "How many" in texts(chat.press(f"vb:{package_id}"))

    [reply] = chat.send("3")

    assert reply.document is not None
    filename, content = reply.document
    assert filename.startswith("vouchers-batch-") and filename.endswith(".html")
    page = content.decode("utf-8")
    assert "RW 07 Net" in page and page.count("<svg") == 3
    [record] = audit(db, f"telegram:{username}", "voucher_batch.generate")
    with db.transaction() as session:
        batch = session.get(VoucherBatch, record.after_data()["batch"])
        assert (batch.count, batch.package_id) == (3, package_id)
        codes = session.execute(select(Voucher.code).where(Voucher.batch_id == batch.id))
        assert all(code in page for code in codes.scalars())


def test_the_daily_summary_shows_revenue_only_to_who_may_see_it(db, staff_settings):
    with_revenue, _u, _ = staff_chat(db, staff_settings, {"dashboard": "view", "revenue": "view"})
    without, _u2, _ = staff_chat(db, staff_settings, {"dashboard": "view"})
    assert "Revenue" in texts(with_revenue.send("/summary"))
    summary = texts(without.send("/ringkasan"))
    assert "New customers" in summary and "Revenue" not in summary


# --- help and languages ------------------------------------------------------------------------


def test_the_help_lists_only_what_the_role_allows(db, staff_settings):
    chat, _username, _ = staff_chat(db, staff_settings, {"payments": "view"})
    [reply] = chat.send("/help")
    assert "/payments" in reply.text and "/routers" not in reply.text
    assert [b.data for row in reply.buttons for b in row] == ["payments"]


def test_the_staff_chat_speaks_indonesian(db, staff_settings):
    chat, _username, _ = staff_chat(db, staff_settings, {"payments": "change"}, language="id")
    _account_id, request_id = payment_request(db)
    assert "Pembayaran menunggu" in texts(chat.send("/pembayaran"))
    assert "Dikonfirmasi" in texts(chat.press(f"pay_ok:{request_id}"))
    assert "tidak mengizinkan" in texts(chat.press("reg_ok:1:c"))


def test_a_staff_member_links_line_with_the_code_and_works_from_there(db, staff_settings):
    staff_id, username = staff_member(db, {"payments": "change"})
    code, _ = db.run(lambda s: issue_link_token(s, "line", actor="test", staff_id=staff_id))
    chat = FakeChat(db, staff_settings, platform="line")
    chat.send(f"/start {code}")  # bots.line turns a typed code into this
    with db.transaction() as session:
        assert find_link(session, "line", chat.chat_id).staff_id == staff_id
    _account, request_id = payment_request(db)
    assert "Confirmed" in texts(chat.press(f"pay_ok:{request_id}"))
    [record] = audit(db, f"line:{username}", "payment.confirm")
    assert record.target == f"payment request {request_id}"
