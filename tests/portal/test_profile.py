"""Profile: details, language and password changed by the customer (audited, nothing else
of the customer changed), read-only identities and logins, bad input beside its field."""

from __future__ import annotations

import secrets

from sqlalchemy import select

from tests.portal.conftest import PASSWORD, field_errors, make_client, make_customer, signed_in
from wallet.customers import add_identity
from wallet.internet import create_login
from wallet.models import Account, Customer
from wallet.staff import AuditRecord


def test_the_profile_shows_the_customer_number_identities_and_logins(portal, db):
    person = make_customer(db)
    peer = f"sip{secrets.token_hex(3)}"
    login = f"l{secrets.token_hex(3)}"
    db.run(lambda s: add_identity(s, person.account_id, "peer", peer))
    db.run(lambda s: create_login(s, person.customer_id, login, "pass1234"))
    page = signed_in(portal, person).get("/profile/").get_data(as_text=True)
    assert f'data-test="customer-number">{person.customer_id}<' in page
    assert peer in page and login in page and "pass1234" not in page


def test_details_are_changed_and_audited_and_nothing_else_of_the_customer(portal, db):
    person = make_customer(db, credit_limit=3_000_000_000)
    client = signed_in(portal, person)
    client.get("/profile/")
    response = client.post(
        "/profile/details",
        data={"name": "Siti Aminah", "phone": "0813 1111 2222", "email": "siti@example.net"},
    )
    assert response.status_code == 302
    with db.transaction() as session:
        customer = session.get(Customer, person.customer_id)
        assert (customer.name, customer.phone, customer.email, customer.status) == (
            "Siti Aminah",
            "0813 1111 2222",
            "siti@example.net",
            "active",
        )
        account = session.get(Account, person.account_id)
        assert account.credit_limit == 3_000_000_000
        assert session.execute(
            select(AuditRecord.id).where(
                AuditRecord.actor == f"portal:customer:{person.customer_id}",
                AuditRecord.action == "customer.update",
            )
        ).first()


def test_bad_details_show_beside_their_fields(portal, db):
    person = make_customer(db)
    client = signed_in(portal, person)
    client.get("/profile/")
    page = client.post("/profile/details", data={"name": "", "phone": "x"}).get_data(True)
    assert field_errors(page, "name")
    page = client.post("/profile/details", data={"name": "Ok", "phone": "not a phone"})
    assert field_errors(page.get_data(as_text=True), "phone") == ["Not a phone number."]
    page = client.post("/profile/details", data={"name": "Ok\x01", "phone": ""})
    assert page.status_code == 400
    with db.transaction() as session:
        assert session.get(Customer, person.customer_id).name == person.name


def test_the_language_is_kept_in_the_profile(portal, db):
    person = make_customer(db)
    client = signed_in(portal, person)
    client.get("/profile/")
    client.post("/profile/language", data={"locale": "id"})
    home = client.get("/home").get_data(as_text=True)
    # The confirmation is said in the language just chosen, like the page it shows on.
    assert "Beranda" in home and "Tersimpan." in home and "Saved." not in home
    other_browser = signed_in(portal, person)
    assert "Beranda" in other_browser.get("/home").get_data(as_text=True)
    assert client.post("/profile/language", data={"locale": "xx"}).status_code == 400


def test_a_new_password_signs_out_the_other_devices_and_keeps_this_one(portal, db):
    person = make_customer(db)
    client, other_device = signed_in(portal, person), signed_in(portal, person)
    client.get("/profile/")
    new = "sawah hijau 2026 pagi"
    wrong = client.post(
        "/profile/password", data={"current": "nope", "password": new, "confirm": new}
    )
    assert field_errors(wrong.get_data(as_text=True), "current") == [
        "The current password is wrong."
    ]
    weak = client.post(
        "/profile/password",
        data={"current": PASSWORD, "password": "qwertyuiop", "confirm": "qwertyuiop"},
    )
    assert field_errors(weak.get_data(as_text=True), "password")
    done = client.post(
        "/profile/password", data={"current": PASSWORD, "password": new, "confirm": new}
    )
    assert done.status_code == 302
    assert client.get("/profile/").status_code == 200
    assert other_device.get("/home").status_code == 302
    assert make_client(portal).sign_in(person.phone, PASSWORD).status_code == 401
    assert make_client(portal).sign_in(person.phone, new).status_code == 302


def test_a_hotspot_only_customer_sets_a_portal_password_with_the_hotspot_one(portal, db):
    person = make_customer(db, password=None)
    name = f"h{secrets.token_hex(3)}"
    db.run(lambda s: create_login(s, person.customer_id, name, "wifi-pass-9"))
    client = make_client(portal)
    assert client.sign_in(name, "wifi-pass-9").status_code == 302
    new = "sawah hijau 2026 pagi"
    client.get("/profile/")
    done = client.post(
        "/profile/password", data={"current": "wifi-pass-9", "password": new, "confirm": new}
    )
    assert done.status_code == 302
    assert make_client(portal).sign_in(person.phone, new).status_code == 302


def test_wtforms_own_messages_are_in_the_readers_language(portal, db):
    person = make_customer(db)
    client = signed_in(portal, person)
    client.post("/profile/language", data={"locale": "id"})
    client.get("/profile/")
    page = client.post("/profile/details", data={"name": "", "phone": ""}).get_data(True)
    assert field_errors(page, "name") == ["Isian ini wajib diisi."]  # "This field is required."
