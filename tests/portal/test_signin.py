"""Signing in to the portal: the ways to name oneself, first access from a one-time
link, throttling, sessions ended on the server, and sessions kept apart from staff."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from tests.portal.conftest import (
    PASSWORD,
    field_errors,
    make_client,
    make_customer,
    signed_in,
    unique_phone,
)
from wallet.customer_access import (
    LINK_LIFETIME,
    PortalLink,
    issue_portal_link,
)
from wallet.internet import create_login
from wallet.ledger import utcnow
from wallet.models import Customer
from wallet.staff import AuditRecord, create_staff
from webadmin import create_app as create_admin

PULSA = Path(sys.executable).parent / "pulsa"


def test_a_customer_signs_in_with_the_phone_number_in_any_usual_form(portal, db):
    national = unique_phone()
    person = make_customer(db, phone=f"{national[:4]}-{national[4:8]}-{national[8:]}")
    for typed in (person.phone, national, "+62 " + national[1:], "62" + national[1:]):
        client = make_client(portal)
        assert client.sign_in(typed).status_code == 302, typed
        assert person.name in client.get("/home").get_data(as_text=True)


def test_a_customer_signs_in_with_the_customer_number(portal, db):
    person = make_customer(db)
    client = make_client(portal)
    assert client.sign_in(str(person.customer_id)).status_code == 302
    assert person.name in client.get("/home").get_data(as_text=True)


def test_a_customer_signs_in_with_the_hotspot_user_name_and_password(portal, db):
    person = make_customer(db, password=None)
    username = f"hs{person.customer_id}"
    db.run(lambda s: create_login(s, person.customer_id, username, "wifi-pass-9"))
    client = make_client(portal)
    assert client.sign_in(username.upper(), "wifi-pass-9").status_code == 302
    assert person.name in client.get("/home").get_data(as_text=True)
    assert make_client(portal).sign_in(username, "wifi-pass-8").status_code == 401


def test_a_wrong_password_and_an_unknown_name_get_the_same_answer(portal, db):
    person = make_customer(db)
    wrong = make_client(portal).sign_in(person.phone, "not the password")
    unknown = make_client(portal).sign_in("0899999999999", "not the password")
    assert wrong.status_code == unknown.status_code == 401
    assert "Wrong name or password." in wrong.get_data(as_text=True)
    assert "Wrong name or password." in unknown.get_data(as_text=True)


def test_an_empty_sign_in_form_shows_errors_beside_its_fields(anonymous):
    anonymous.get("/sign-in")
    page = anonymous.post("/sign-in", data={"identifier": "", "password": ""}).get_data(
        as_text=True
    )
    assert field_errors(page, "identifier") and field_errors(page, "password")


def test_a_guesser_waits_while_the_customer_signs_in_from_elsewhere(portal, db):
    person = make_customer(db)
    guesser = make_client(portal)
    for _ in range(5):
        assert guesser.sign_in(person.phone, "guess").status_code == 401
    waiting = guesser.sign_in(person.phone)
    assert waiting.status_code == 401
    assert "Too many failed sign-ins" in waiting.get_data(as_text=True)
    assert make_client(portal).sign_in(person.phone).status_code == 302


def test_a_disabled_customer_cannot_sign_in(portal, db):
    person = make_customer(db)
    client = signed_in(portal, person)

    def disable(session):
        session.get(Customer, person.customer_id).status = "disabled"

    db.run(disable)
    assert make_client(portal).sign_in(person.phone).status_code == 401
    assert client.get("/home").status_code == 302  # and the open session ends


def test_pages_need_a_signed_in_customer(anonymous):
    response = anonymous.get("/home")
    assert response.status_code == 302 and "/sign-in?next=/home" in response.location
    assert anonymous.post("/sign-out").status_code == 401


def test_every_route_declares_its_access(portal):
    for rule in portal.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        function = portal.view_functions[rule.endpoint]
        assert getattr(function, "access_level", None) in ("public", "customer"), rule


def test_a_post_without_the_csrf_token_is_refused(portal, db, alice):
    client = signed_in(portal, alice)
    assert client.post("/sign-out", csrf=False).status_code == 400
    assert client.get("/home").status_code == 200


def test_a_portal_link_sets_the_password_once_and_signs_in(portal, db):
    person = make_customer(db, password=None)
    token, _ = db.run(lambda s: issue_portal_link(s, person.customer_id, actor="web:staff"))
    client = make_client(portal)
    page = client.get(f"/welcome/{token}").get_data(as_text=True)
    assert person.name in page
    chosen = "kopi tubruk sore 88"
    response = client.post(f"/welcome/{token}", data={"password": chosen, "confirm": chosen})
    assert response.status_code == 302 and response.location.endswith("/home")
    assert person.name in client.get("/home").get_data(as_text=True)
    assert make_client(portal).get(f"/welcome/{token}").status_code == 404
    assert make_client(portal).sign_in(person.phone, "kopi tubruk sore 88").status_code == 302


def test_a_portal_link_refuses_a_short_or_mismatched_password(portal, db):
    person = make_customer(db, password=None)
    token, _ = db.run(lambda s: issue_portal_link(s, person.customer_id, actor="test"))
    client = make_client(portal)
    client.get(f"/welcome/{token}")
    page = client.post(f"/welcome/{token}", data={"password": "short", "confirm": "short"})
    assert field_errors(page.get_data(as_text=True), "password")
    common = {"password": "password123", "confirm": "password123"}
    errors = field_errors(client.post(f"/welcome/{token}", data=common).get_data(True), "password")
    assert errors == ["This password is one of the most common ones. Choose one harder to guess."]
    page = client.post(
        f"/welcome/{token}", data={"password": "long enough 1", "confirm": "long enough 2"}
    )
    assert field_errors(page.get_data(as_text=True), "confirm")
    # Still usable: nothing was set.
    assert make_client(portal).get(f"/welcome/{token}").status_code == 200


def test_a_portal_link_expires_after_24_hours(portal, db):
    person = make_customer(db, password=None)
    earlier = utcnow() - LINK_LIFETIME - timedelta(seconds=1)
    token, _ = db.run(lambda s: issue_portal_link(s, person.customer_id, actor="test", now=earlier))
    assert make_client(portal).get(f"/welcome/{token}").status_code == 404
    assert make_client(portal).get("/welcome/not-a-token").status_code == 404


def test_only_a_hash_of_the_link_is_stored(db):
    person = make_customer(db, password=None)
    token, _ = db.run(lambda s: issue_portal_link(s, person.customer_id, actor="test"))
    with db.transaction() as session:
        stored = session.execute(
            select(PortalLink.token_hash).where(PortalLink.customer_id == person.customer_id)
        ).scalar_one()
    assert token not in stored and len(stored) == 64


def test_signing_out_ends_the_session_on_the_server(portal, db, alice):
    client = signed_in(portal, alice)
    stolen = client.get_cookie("pulsa_portal").value
    assert client.post("/sign-out").status_code == 302
    thief = make_client(portal)
    thief.set_cookie("pulsa_portal", stolen)
    assert thief.get("/home").status_code == 302


def test_a_staff_cookie_does_not_open_the_portal_and_the_reverse(portal, db, settings, tmp_path):
    admin_app = create_admin(settings, db, upload_folder=tmp_path / "admin-uploads")
    username = f"staffp{make_customer(db, password=None).customer_id}"
    db.run(lambda s: create_staff(s, username, PASSWORD + "x", is_superuser=True))
    staff = admin_app.test_client()
    staff.environ_base["REMOTE_ADDR"] = "10.9.9.9"
    page = staff.get("/sign-in").get_data(as_text=True)
    token = page.split('name="csrf-token" content="')[1].split('"')[0]
    signed = staff.post(
        "/sign-in", data={"username": username, "password": PASSWORD + "x", "csrf_token": token}
    )
    assert signed.status_code == 302
    staff_cookie = staff.get_cookie("pulsa_session").value

    person = make_customer(db)
    customer = signed_in(portal, person)
    customer_cookie = customer.get_cookie("pulsa_portal").value

    intruder = make_client(portal)
    for name in ("pulsa_portal", "pulsa_session"):
        intruder.set_cookie(name, staff_cookie)
    assert intruder.get("/home").status_code == 302

    other = admin_app.test_client()
    for name in ("pulsa_portal", "pulsa_session"):
        other.set_cookie(name, customer_cookie)
    assert other.get("/").status_code == 302
    assert other.get("/customers/").status_code == 302


def test_the_language_follows_the_browser_and_the_switch(anonymous):
    page = anonymous.get("/sign-in", headers={"Accept-Language": "id-ID,id;q=0.9"})
    assert "Masuk" in page.get_data(as_text=True)
    anonymous.post("/language", data={"locale": "en", "next": "/sign-in"})
    page = anonymous.get("/sign-in", headers={"Accept-Language": "id-ID,id;q=0.9"})
    assert "Sign in" in page.get_data(as_text=True)


def test_signing_in_is_audited_with_the_customer_as_actor(portal, db):
    person = make_customer(db)
    signed_in(portal, person)
    with db.transaction() as session:
        actors = session.execute(
            select(AuditRecord.actor).where(AuditRecord.action == "portal.sign_in")
        ).scalars()
        assert f"portal:customer:{person.customer_id}" in set(actors)


def test_pulsa_customer_portal_link_prints_a_link(db):
    person = make_customer(db, password=None)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PULSA_")}
    env.update(PULSA_DATABASE_URL=db.url, PULSA_PORTAL_URL="https://portal.example.net/")
    result = subprocess.run(
        [str(PULSA), "customer", "portal-link", str(person.customer_id)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    link = result.stdout.strip()
    assert link.startswith("https://portal.example.net/welcome/")
    with db.transaction() as session:
        assert (
            session.execute(
                select(PortalLink.id).where(PortalLink.customer_id == person.customer_id)
            ).first()
            is not None
        )


def test_staff_give_portal_access_from_the_customer_page_and_the_link_opens_the_portal(
    portal, db, settings, tmp_path
):
    from tests.webadmin.conftest import AdminClient, make_staff
    from tests.webadmin.conftest import signed_in as staff_signed_in

    admin_app = create_admin(settings, db, upload_folder=tmp_path / "admin-uploads")
    admin_app.test_client_class = AdminClient
    clerk = staff_signed_in(admin_app, make_staff(db, grants={"customers": "change"}))
    viewer = staff_signed_in(admin_app, make_staff(db, grants={"customers": "view"}))
    person = make_customer(db, password=None)
    detail = clerk.get(f"/customers/{person.customer_id}").get_data(as_text=True)
    assert "Portal access" in detail
    assert viewer.post(f"/customers/{person.customer_id}/portal-link").status_code == 403
    page = clerk.post(f"/customers/{person.customer_id}/portal-link").get_data(as_text=True)
    link = page.split('data-test="portal-link"')[0].rsplit('value="', 1)[1].split('"')[0]
    assert link.startswith("https://portal.example.net/welcome/") and "<svg" in page
    client = make_client(portal)
    path = link.removeprefix("https://portal.example.net")
    assert person.name in client.get(path).get_data(as_text=True)
    assert clerk.post("/customers/999999999/portal-link").status_code == 404


def test_a_refused_form_says_why_in_indonesian(portal):
    client = make_client(portal)
    client.post("/language", data={"locale": "id", "next": "/"})
    page = client.post("/sign-in", data={"identifier": "x"}, csrf=False).get_data(as_text=True)
    assert "Formulir terkirim tanpa kode keamanannya." in page and "CSRF" not in page
