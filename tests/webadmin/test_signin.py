"""Sign-in, throttling, sessions, cookies and the audit of sign-ins."""

from __future__ import annotations

from sqlalchemy import select, update

from tests.webadmin.conftest import PASSWORD, field_errors, make_client, make_staff, signed_in
from wallet.staff import (
    MAX_FAILURES_PER_USER,
    AuditRecord,
    SignInFailure,
    StaffUser,
    update_staff,
)


def test_a_staff_member_signs_in_with_the_right_password(app, superuser):
    client = make_client(app)
    response = client.sign_in(superuser)
    assert response.status_code == 302
    assert superuser in client.get("/").get_data(as_text=True)


def test_a_wrong_password_is_refused_with_one_message_for_name_and_password(app, superuser):
    client = make_client(app)
    wrong_password = client.sign_in(superuser, "not the password")
    wrong_name = client.sign_in("nobody-by-this-name", PASSWORD)
    for response in (wrong_password, wrong_name):
        assert response.status_code == 401
        assert "Wrong user name or password." in response.get_data(as_text=True)


def test_after_five_wrong_passwords_even_the_right_one_is_refused(app, db, superuser):
    client = make_client(app)
    for _ in range(MAX_FAILURES_PER_USER):
        assert client.sign_in(superuser, "guess").status_code == 401
    response = client.sign_in(superuser, PASSWORD)
    assert response.status_code == 401
    assert "Too many failed sign-ins" in response.get_data(as_text=True)
    # From another address too: the lock is on the user name, not only the address.
    assert make_client(app).sign_in(superuser).status_code == 401

    # When the lock has run out, the right password works again.
    db.run(
        lambda s: s.execute(
            update(SignInFailure)
            .where(SignInFailure.subject == f"user:{superuser}")
            .values(locked_until=None)
        )
    )
    assert make_client(app).sign_in(superuser).status_code == 302


def test_a_right_password_resets_the_count_of_failures(app, superuser):
    client = make_client(app)
    for _ in range(MAX_FAILURES_PER_USER - 1):
        client.sign_in(superuser, "guess")
    assert client.sign_in(superuser).status_code == 302
    other = make_client(app)
    for _ in range(MAX_FAILURES_PER_USER - 1):
        other.sign_in(superuser, "guess")
    assert other.sign_in(superuser).status_code == 302


def test_sign_ins_and_failures_are_written_to_the_audit_log(app, db, superuser):
    client = make_client(app)
    client.sign_in(superuser, "guess")
    client.sign_in(superuser)
    with db.transaction() as session:
        actions = (
            session.execute(
                select(AuditRecord.action)
                .where(AuditRecord.actor == superuser)
                .order_by(AuditRecord.id)
            )
            .scalars()
            .all()
        )
    assert actions[-2:] == ["staff.sign_in_failed", "staff.sign_in"]


def test_the_session_cookie_is_http_only_and_same_site(app, superuser):
    client = make_client(app)
    response = client.sign_in(superuser)
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("pulsa_session=")
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # plain http: a Secure cookie would never come back


def test_the_session_cookie_is_secure_over_https(app, superuser):
    client = app.test_client()
    page = client.get("/sign-in", base_url="https://admin.example")
    token = page.get_data(as_text=True).split('name="csrf-token" content="')[1].split('"')[0]
    response = client.post(
        "/sign-in",
        base_url="https://admin.example",
        data={"username": superuser, "password": PASSWORD, "csrf_token": token},
        headers={"Referer": "https://admin.example/sign-in"},
    )
    assert response.status_code == 302
    cookie = response.headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie


def test_pages_carry_protective_headers(admin):
    response = admin.get("/")
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["Cache-Control"] == "no-store"


def test_sign_out_ends_the_session_and_needs_a_post(admin):
    assert admin.get("/sign-out").status_code == 405
    response = admin.post("/sign-out")
    assert response.headers["Location"] == "/sign-in"
    assert admin.get("/").status_code == 302


def test_disabling_a_staff_member_ends_their_open_sessions(app, db, superuser):
    username = make_staff(db, grants={"dashboard": "view"})
    client = signed_in(app, username)
    assert client.get("/").status_code == 200

    def disable(session):
        staff_id = session.execute(
            select(StaffUser.id).where(StaffUser.username == username)
        ).scalar_one()
        update_staff(session, staff_id, actor="test", is_active=False)

    db.run(disable)
    assert client.get("/").status_code == 302
    assert make_client(app).sign_in(username).status_code == 401


def test_changing_the_password_ends_the_other_sessions(app, db):
    username = make_staff(db, grants={"dashboard": "view"})
    laptop, phone = signed_in(app, username), signed_in(app, username)
    response = laptop.post(
        "/profile",
        data={"locale": "en", "password": "a new long password", "confirm": "a new long password"},
    )
    assert response.headers["Location"] == "/sign-in"
    assert phone.get("/").status_code == 302
    assert make_client(app).sign_in(username, "a new long password").status_code == 302


def test_a_staff_member_chooses_indonesian_for_themself(app, db):
    username = make_staff(db, grants={"dashboard": "view"})
    client = signed_in(app, username)
    client.post("/profile", data={"locale": "id", "password": "", "confirm": ""})
    page = client.get("/").get_data(as_text=True)
    assert "Keluar" in page  # "Sign out"
    other = signed_in(app, make_staff(db, grants={"dashboard": "view"}))
    assert "Sign out" in other.get("/").get_data(as_text=True)


def test_a_tls_proxy_on_the_same_machine_makes_the_cookie_secure(app, superuser):
    from tests.webadmin.conftest import AdminClient

    def signs_in_with(address: str) -> str:
        client: AdminClient = app.test_client()
        client.environ_base["REMOTE_ADDR"] = address
        client.get("/sign-in")
        response = client.post(
            "/sign-in",
            data={"username": superuser, "password": PASSWORD},
            headers={"X-Forwarded-Proto": "https"},
        )
        return response.headers["Set-Cookie"]

    assert "Secure" in signs_in_with("127.0.0.1")
    assert "Secure" not in signs_in_with("10.1.2.3")  # a forged header from elsewhere


def test_behind_a_local_proxy_each_client_address_is_throttled_on_its_own(app, db, superuser):
    from wallet.staff import MAX_FAILURES_PER_ADDRESS

    def attempt(forwarded_for: str, password: str):
        client = app.test_client()
        client.environ_base["REMOTE_ADDR"] = "127.0.0.1"
        client.get("/sign-in")
        return client.post(
            "/sign-in",
            data={"username": superuser, "password": password},
            headers={"X-Forwarded-For": forwarded_for},
        )

    attacker = "203.0.113.9"
    for number in range(MAX_FAILURES_PER_ADDRESS):
        # Different names, so that only the address count can lock.
        client = app.test_client()
        client.environ_base["REMOTE_ADDR"] = "127.0.0.1"
        client.get("/sign-in")
        client.post(
            "/sign-in",
            data={"username": f"nobody{number}", "password": "x"},
            headers={"X-Forwarded-For": f"spoofed, {attacker}"},
        )
    assert "Too many failed sign-ins" in attempt(attacker, PASSWORD).get_data(as_text=True)
    assert attempt("198.51.100.7", PASSWORD).status_code == 302


def test_a_staff_member_cannot_choose_a_trivial_password_for_themself(app, db):
    username = make_staff(db, grants={"dashboard": "view"})
    client = signed_in(app, username)
    client.post("/profile", data={"locale": "id", "password": "", "confirm": ""})
    response = client.post(
        "/profile", data={"locale": "id", "password": "1234567890", "confirm": "1234567890"}
    )
    assert response.status_code == 200
    assert field_errors(response.get_data(as_text=True), "password") == [
        "Kata sandi ini termasuk yang paling umum. Pilih yang lebih sulit ditebak."
    ]
    assert make_client(app).sign_in(username, "1234567890").status_code == 401
