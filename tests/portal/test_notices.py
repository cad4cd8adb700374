"""Notices on the portal: the customer chooses which kinds they receive (profile), and
sees their latest notices on the home page, in the page's language."""

from __future__ import annotations

from messaging.notifications import KINDS, PAYMENT_CONFIRMED, enabled_kinds
from tests.portal.conftest import make_customer, signed_in
from wallet.payments import confirm_payment, create_payment_request


def test_the_customer_turns_a_kind_off_on_the_profile_and_it_is_no_longer_written(portal, db):
    person = make_customer(db)
    client = signed_in(portal, person)
    page = client.get("/profile/").get_data(as_text=True)
    assert 'name="notify_payment_confirmed"' in page and "checked" in page
    others = {
        "notify_" + kind.replace("-", "_"): "y" for kind in KINDS if kind != PAYMENT_CONFIRMED
    }

    response = client.post("/profile/notifications", data=others)

    assert response.status_code == 302
    assert db.run(lambda s: enabled_kinds(s, person.customer_id)) == set(KINDS) - {
        PAYMENT_CONFIRMED
    }
    request_id = db.run(lambda s: create_payment_request(s, person.account_id, 10_000_000_000).id)
    db.run(lambda s: confirm_payment(s, request_id, actor="web:andi"))
    home = client.get("/home").get_data(as_text=True)
    assert "is confirmed" not in home and "No notices yet." in home


def test_the_home_page_lists_the_latest_notices_in_the_pages_language(portal, db):
    person = make_customer(db)
    request_id = db.run(lambda s: create_payment_request(s, person.account_id, 10_000_000_000).id)
    db.run(lambda s: confirm_payment(s, request_id, actor="web:andi"))
    client = signed_in(portal, person)

    home = client.get("/home").get_data(as_text=True)
    assert "Your payment of IDR 10,000 is confirmed." in home

    client.post("/profile/language", data={"locale": "id"})
    home = client.get("/home").get_data(as_text=True)
    assert "Pembayaran Anda sebesar IDR 10,000 sudah dikonfirmasi." in home
    assert "Pemberitahuan" in home
