"""The Broadcast screen: a message to the linked chats of all customers or of a package's
or a router's users, one outbox notice per chat, sent once however often the form is
sent, and its progress (sent, waiting, failed) from the outbox; its own permission."""

from __future__ import annotations

import json
import re

from sqlalchemy import select

from messaging.chats import issue_link_token, redeem_link_token
from messaging.models import Broadcast, BroadcastRecipient, Notice
from messaging.notifications import ANNOUNCEMENT, KINDS, render_notice, save_choices
from messaging.outbox import mark_failed, mark_sent, route_notices
from tests.conftest import unique_key
from tests.hotspot.builders import make_login, make_package
from tests.webadmin.conftest import field_errors, make_staff, signed_in
from wallet.backoffice import set_customer_status
from wallet.hotspot_models import HotspotLogin
from wallet.internet import buy_package
from wallet.models import Account


def form_key(page: str) -> str:
    found = re.search(r'<input[^>]*name="key"[^>]*>', page)
    assert found, "no form key on the page"
    return re.search(r'value="([^"]+)"', found.group(0)).group(1)


def link_chat(db, customer_id: int, chat_id: str, platform: str = "telegram") -> None:
    def work(session):
        token, _ = issue_link_token(session, platform, actor="test", customer_id=customer_id)
        redeem_link_token(session, platform, chat_id, token, language="id")

    db.run(work)


def package_user(db, package_id: int) -> int:
    """A customer with `package_id` running now; their customer id."""
    _account_id, login_id = make_login(db, 100_000_000_000)
    db.run(lambda s: buy_package(s, login_id, package_id, key=unique_key("buy")))
    return db.run(lambda s: s.get(HotspotLogin, login_id).customer_id)


def other_customer(db) -> int:
    account_id, _login = make_login(db)
    return db.run(lambda s: s.get(Account, account_id).customer_id)


def broadcast_of(db, text: str) -> Broadcast:
    with db.transaction() as session:
        return session.execute(select(Broadcast).where(Broadcast.text == text)).scalar_one()


def notices_of(db, broadcast_id: int) -> list[Notice]:
    with db.transaction() as session:
        return list(
            session.execute(
                select(Notice)
                .join(BroadcastRecipient, BroadcastRecipient.notice_key == Notice.key)
                .where(BroadcastRecipient.broadcast_id == broadcast_id)
                .order_by(Notice.id)
            ).scalars()
        )


def send(client, text: str, **values: str):
    page = client.get("/broadcast/").get_data(as_text=True)
    data = {"key": form_key(page), "text": text, "audience": "all", "package": "", "router": ""}
    data.update(values)
    return client.post("/broadcast/", data=data), data


def test_a_broadcast_to_a_packages_users_reaches_each_of_their_linked_chats_once(db, admin):
    package_id = make_package(db)
    two_chats, one_chat = package_user(db, package_id), package_user(db, package_id)
    package_user(db, package_id)  # no chat linked: nothing to send
    stranger = other_customer(db)  # linked, but not a user of the package
    link_chat(db, two_chats, unique_key("tg"))
    link_chat(db, two_chats, unique_key("line"), platform="line")
    link_chat(db, one_chat, unique_key("tg"))
    link_chat(db, stranger, unique_key("tg"))
    text = unique_key("Gangguan jaringan malam ini")

    response, _data = send(admin, text, audience="package", package=str(package_id))

    assert response.status_code == 302
    broadcast = broadcast_of(db, text)
    assert response.headers["Location"].endswith(f"/broadcast/{broadcast.id}")
    notices = notices_of(db, broadcast.id)
    assert broadcast.recipients == len(notices) == 3
    assert {n.channel for n in notices} == {"telegram", "line"}
    assert all(n.key.startswith(f"broadcast:{broadcast.id}:") for n in notices)
    payloads = [json.loads(n.payload) for n in notices]
    assert {p["customer"] for p in payloads} == {two_chats, one_chat}
    assert {p["text"] for p in payloads} == {text}
    assert {p["kind"] for p in payloads} == {"announcement"}
    assert broadcast.created_by.startswith("web:")


def test_a_broadcast_to_all_leaves_out_disabled_customers(db, admin):
    active, disabled = other_customer(db), other_customer(db)
    active_chat, disabled_chat = unique_key("tg"), unique_key("tg")
    link_chat(db, active, active_chat)
    link_chat(db, disabled, disabled_chat)
    db.run(lambda s: set_customer_status(s, disabled, "disabled", actor="test"))
    text = unique_key("Libur lebaran")
    send(admin, text)
    recipients = {n.recipient for n in notices_of(db, broadcast_of(db, text).id)}
    assert f"telegram:{active_chat}" in recipients
    assert f"telegram:{disabled_chat}" not in recipients


def test_the_same_form_sent_twice_is_one_broadcast_sent_once(db, admin):
    package_id = make_package(db)
    link_chat(db, package_user(db, package_id), unique_key("tg"))
    text = unique_key("Sekali saja")
    first, data = send(admin, text, audience="package", package=str(package_id))
    second = admin.post("/broadcast/", data=data, follow_redirects=True)
    assert first.status_code == 302
    assert "already sent" in second.get_data(as_text=True)
    with db.transaction() as session:
        made = session.execute(select(Broadcast).where(Broadcast.text == text)).scalars().all()
    assert len(made) == 1
    assert len(notices_of(db, made[0].id)) == 1


def test_the_progress_shows_sent_waiting_and_failed_from_the_outbox(db, admin):
    package_id = make_package(db)
    for _ in range(3):
        link_chat(db, package_user(db, package_id), unique_key("tg"))
    text = unique_key("Progress")
    send(admin, text, audience="package", package=str(package_id))
    broadcast = broadcast_of(db, text)
    page = admin.get(f"/broadcast/{broadcast.id}").get_data(as_text=True)
    assert 'data-progress="pending">3<' in page
    assert 'http-equiv="refresh"' in page  # without JavaScript the page reloads itself

    first, second, _third = notices_of(db, broadcast.id)

    def deliver(session):
        mark_sent(session, session.get(Notice, first.id))
        mark_failed(session, session.get(Notice, second.id), "blocked", max_attempts=1)

    db.run(deliver)
    progress = admin.get(f"/broadcast/{broadcast.id}/progress").get_json()
    assert progress == {
        "recipients": 3,
        "sent": 1,
        "pending": 1,
        "failed": 1,
        "percent": 66,
        "done": False,
    }
    page = admin.get(f"/broadcast/{broadcast.id}").get_data(as_text=True)
    assert 'data-progress="sent">1<' in page and 'data-progress="failed">1<' in page


def test_a_finished_broadcast_stops_refreshing(db, admin):
    package_id = make_package(db)  # nobody uses it: nothing to send, finished at once
    text = unique_key("Nobody")
    send(admin, text, audience="package", package=str(package_id))
    broadcast = broadcast_of(db, text)
    page = admin.get(f"/broadcast/{broadcast.id}").get_data(as_text=True)
    assert 'http-equiv="refresh"' not in page and "data-progress-done" in page


def test_a_package_audience_needs_the_package(db, admin):
    text = unique_key("No package")
    response, _ = send(admin, text, audience="package")
    assert field_errors(response.get_data(as_text=True), "package") == ["Choose one."]


def test_seeing_broadcasts_is_not_sending_them(app, db):
    viewer = signed_in(app, make_staff(db, grants={"broadcast": "view"}))
    page = viewer.get("/broadcast/")
    assert page.status_code == 200
    assert 'name="text"' not in page.get_data(as_text=True)
    text = unique_key("Not allowed")
    response = viewer.post("/broadcast/", data={"key": "x" * 32, "text": text, "audience": "all"})
    assert response.status_code == 403
    with db.transaction() as session:
        assert session.execute(select(Broadcast).where(Broadcast.text == text)).first() is None


def test_staff_without_the_permission_see_no_broadcast_screen(app, db):
    cashier = signed_in(app, make_staff(db, grants={"payments": "change"}))
    assert cashier.get("/broadcast/").status_code == 403
    assert "/broadcast/" not in cashier.get("/payments/").get_data(as_text=True)


def test_the_screen_speaks_indonesian(app, db):
    client = signed_in(app, make_staff(db, superuser=True, locale="id"))
    page = client.get("/broadcast/").get_data(as_text=True)
    assert "Siaran" in page and "Kirim" in page


def test_customers_who_turned_announcements_off_get_no_broadcast(db, admin):
    package_id = make_package(db)
    wants, does_not = package_user(db, package_id), package_user(db, package_id)
    link_chat(db, wants, unique_key("tg"))
    link_chat(db, does_not, unique_key("tg"))
    db.run(lambda s: save_choices(s, does_not, set(KINDS) - {ANNOUNCEMENT}))
    text = unique_key("Pilih sendiri")
    send(admin, text, audience="package", package=str(package_id))
    notices = notices_of(db, broadcast_of(db, text).id)
    assert [json.loads(n.payload)["customer"] for n in notices] == [wants]
    assert notices[0].kind == "announcement"


def test_the_delivery_worker_routes_each_broadcast_notice_to_its_one_chat(db, admin):
    package_id = make_package(db)
    chat_id = unique_key("tg")
    link_chat(db, package_user(db, package_id), chat_id)
    text = unique_key("Routed")
    send(admin, text, audience="package", package=str(package_id))
    [notice] = notices_of(db, broadcast_of(db, text).id)
    while db.run(lambda s: route_notices(s)):
        pass
    with db.transaction() as session:
        deliveries = session.get(Notice, notice.id).deliveries
        assert [(d.platform, d.chat_id) for d in deliveries] == [("telegram", chat_id)]
        assert render_notice(session.get(Notice, notice.id), "id") == text
