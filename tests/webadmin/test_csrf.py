"""Every state-changing form needs the CSRF token of the session."""

from __future__ import annotations

from tests.webadmin.test_access import STAFF_PUBLIC_ENDPOINTS, sample_url


def test_every_post_route_refuses_a_request_without_the_csrf_token(app, admin):
    checked = 0
    for rule in app.url_map.iter_rules():
        if "POST" not in rule.methods:
            continue
        response = admin.post(sample_url(rule), data={}, csrf=False)
        assert response.status_code == 400, rule.rule
        checked += 1
    assert checked >= 5


def test_a_token_from_another_session_is_refused(app, admin, superuser):
    from tests.webadmin.conftest import signed_in

    other = signed_in(app, superuser)
    response = admin.post(
        "/staff/roles/new", data={"name": "x", "csrf_token": other.csrf_token}, csrf=False
    )
    assert response.status_code == 400


def test_the_sign_in_form_itself_needs_the_token(anonymous, superuser):
    response = anonymous.post(
        "/sign-in",
        data={"username": superuser, "password": "correct horse battery"},
        csrf=False,
    )
    assert response.status_code == 400
    assert "signin.sign_in" in STAFF_PUBLIC_ENDPOINTS  # public, yet protected


def test_a_refused_form_says_why_in_the_readers_language(app, db, admin, anonymous):
    from tests.webadmin.conftest import make_staff, signed_in

    reader = signed_in(app, make_staff(db, superuser=True, locale="id"))
    missing = reader.post("/staff/roles/new", data={"name": "x"}, csrf=False)
    assert missing.status_code == 400
    page = missing.get_data(as_text=True)
    assert "Formulir terkirim tanpa kode keamanannya." in page and "CSRF" not in page
    wrong = reader.post(
        "/staff/roles/new", data={"name": "x", "csrf_token": admin.csrf_token}, csrf=False
    )
    assert "Formulir ini milik sesi lain" in wrong.get_data(as_text=True)
    forged = reader.post("/staff/roles/new", data={"name": "x", "csrf_token": "abc"}, csrf=False)
    assert "Kode keamanan formulir tidak sah." in forged.get_data(as_text=True)
    # No session cookie at all (a browser refusing cookies): said in English to a
    # reader with no language chosen, without Flask-WTF's words.
    cookieless = anonymous.post(
        "/sign-in", data={"username": "x", "csrf_token": admin.csrf_token}, csrf=False
    )
    text = cookieless.get_data(as_text=True)
    assert "Allow cookies for this site" in text and "CSRF" not in text
