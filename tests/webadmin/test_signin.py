"""Sign-in, throttling, sessions, cookies and the audit of sign-ins."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from tests.webadmin.conftest import (
    PASSWORD,
    field_errors,
    make_client,
    make_staff,
    random_address,
    signed_in,
)
from wallet.sign_in_throttle import RULES
from wallet.staff import (
    AuditRecord,
    SignInThrottled,
    StaffUser,
    authenticate,
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


def test_stranger_guessing_does_not_lock_out_the_owner(app, superuser):
    stranger = make_client(app)
    for _ in range(RULES.free_per_name + 5):
        assert stranger.sign_in(superuser, "guess").status_code == 401
    refused = stranger.sign_in(superuser, PASSWORD)
    assert refused.status_code == 401
    assert "Too many failed sign-ins from here." in refused.get_data(as_text=True)
    # The owner, from their own address, signs in as usual.
    assert make_client(app).sign_in(superuser).status_code == 302


def test_guessing_gets_slower(db, superuser):
    address = random_address()
    moment = datetime(2026, 12, 4, 8, 0, 0)

    def attempt(password, at):
        return db.run(lambda s: authenticate(s, superuser, password, address=address, now=at))

    waits = []
    for _ in range(RULES.free_per_name + 5):
        outcome = attempt("guess", moment)
        assert outcome.principal is None
        if outcome.retry_after is None:
            waits.append(None)
            continue
        waits.append(outcome.retry_after - moment)
        # Before the wait is over even the right password is refused, unchecked.
        with pytest.raises(SignInThrottled) as throttled:
            attempt(PASSWORD, outcome.retry_after - timedelta(seconds=1))
        assert throttled.value.until == outcome.retry_after
        moment = outcome.retry_after
    seconds = [int(w.total_seconds()) if w else None for w in waits]
    assert seconds == [None, None, None, 5, 10, 20, 40, 80]
    assert attempt(PASSWORD, moment).principal is not None


def test_the_wait_doubles_up_to_its_longest():
    waits = [RULES.wait_after(failures, free=3) for failures in range(1, 30)]
    assert waits[:3] == [None, None, None]
    assert waits[3] == RULES.first_wait
    assert all(b == min(2 * a, RULES.longest_wait) for a, b in pairwise(waits[3:]))
    assert waits[-1] == RULES.longest_wait == timedelta(minutes=15)


def test_one_address_guessing_many_names_is_slowed_down(db, superuser):
    address, moment = random_address(), datetime(2026, 12, 4, 9, 0, 0)
    for number in range(RULES.free_per_address):
        outcome = db.run(
            lambda s, n=number: authenticate(s, f"nobody{n}", "x", address=address, now=moment)
        )
        assert outcome.retry_after is None
    outcome = db.run(lambda s: authenticate(s, "nobody-else", "x", address=address, now=moment))
    assert outcome.retry_after == moment + RULES.first_wait
    with pytest.raises(SignInThrottled):
        db.run(lambda s: authenticate(s, superuser, PASSWORD, address=address, now=moment))
    elsewhere = db.run(
        lambda s: authenticate(s, superuser, PASSWORD, address=random_address(), now=moment)
    )
    assert elsewhere.principal is not None


def test_the_refusal_says_when_to_try_again_in_the_readers_language(app, superuser):
    stranger = make_client(app)
    for _ in range(RULES.free_per_name):
        stranger.sign_in(superuser, "guess")
    page = stranger.sign_in(superuser, "guess").get_data(as_text=True)
    assert "Wrong user name or password. Try again in 5 seconds (at " in page
    page = stranger.sign_in(superuser, PASSWORD).get_data(as_text=True)
    assert "Too many failed sign-ins from here. Try again in " in page
    stranger.environ_base["HTTP_ACCEPT_LANGUAGE"] = "id"
    page = stranger.sign_in(superuser, PASSWORD).get_data(as_text=True)
    assert "Terlalu banyak gagal masuk dari sini. Coba lagi dalam " in page


def test_a_right_password_resets_the_count_of_its_address(app, superuser):
    client = make_client(app)
    for _ in range(RULES.free_per_name):
        client.sign_in(superuser, "guess")
    assert client.sign_in(superuser).status_code == 302
    client.post("/sign-out")
    for _ in range(RULES.free_per_name):
        assert "Try again" not in client.sign_in(superuser, "guess").get_data(as_text=True)
    assert client.sign_in(superuser).status_code == 302


def test_a_cookie_saved_before_sign_out_no_longer_opens_the_admin(app, superuser):
    client = signed_in(app, superuser)
    saved = client.get_cookie("pulsa_session").value
    assert client.post("/sign-out").status_code == 302
    thief = make_client(app)
    thief.set_cookie("pulsa_session", saved)
    response = thief.get("/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/sign-in")


def test_a_password_change_by_a_super_admin_ends_the_sessions_of_that_person(app, db, admin):
    username = make_staff(db, grants={"dashboard": "view"})
    client = signed_in(app, username)
    saved = client.get_cookie("pulsa_session").value
    with db.transaction() as session:
        staff_id = session.execute(
            select(StaffUser.id).where(StaffUser.username == username)
        ).scalar_one()
    response = admin.post(
        f"/staff/{staff_id}",
        data={
            "username": username,
            "role": "",
            "locale": "en",
            "is_active": "y",
            "password": "a brand new passphrase",
        },
    )
    assert response.status_code == 302
    replay = make_client(app)
    replay.set_cookie("pulsa_session", saved)
    assert replay.get("/").status_code == 302
    assert client.get("/").status_code == 302


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
    saved = client.post(
        "/profile", data={"locale": "id", "password": "", "confirm": ""}, follow_redirects=True
    ).get_data(as_text=True)
    # The confirmation is said in the language just chosen, like the page it shows on.
    assert "Tersimpan." in saved and "Saved." not in saved
    page = client.get("/").get_data(as_text=True)
    assert "Keluar" in page  # "Sign out"
    other = signed_in(app, make_staff(db, grants={"dashboard": "view"}))
    assert "Sign out" in other.get("/").get_data(as_text=True)


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


def test_simultaneous_guesses_are_counted_one_after_the_other(db, superuser):
    """Once a name from an address has used its free tries, a burst of guesses at the
    same moment gets one password check: the others wait behind the row lock and then
    find the wait it set."""
    address, moment = random_address(), datetime(2026, 12, 4, 10, 0, 0)
    for _ in range(RULES.free_per_name):
        db.run(lambda s: authenticate(s, superuser, "guess", address=address, now=moment))
    start = threading.Barrier(6)

    def guess(number: int):
        start.wait()
        try:
            return db.run(
                lambda s: authenticate(s, superuser, f"guess{number}", address=address, now=moment)
            )
        except SignInThrottled as throttled:
            return throttled

    with ThreadPoolExecutor(6) as pool:
        outcomes = list(pool.map(guess, range(6)))
    checked = [o for o in outcomes if not isinstance(o, SignInThrottled)]
    assert len(checked) == 1 and checked[0].retry_after == moment + RULES.first_wait
    assert all(o.until == moment + RULES.first_wait for o in outcomes if o not in checked)


@given(st.integers(1, 10_000), st.integers(0, 50))
def test_a_wait_never_shrinks_with_more_failures_and_never_passes_the_longest(failures, free):
    now, then = RULES.wait_after(failures, free), RULES.wait_after(failures + 1, free)
    assert (now is None) == (failures <= free)
    assert then is not None or failures + 1 <= free
    if now is not None:
        assert RULES.first_wait <= now <= then <= RULES.longest_wait


def test_day_old_counts_and_ended_sessions_are_swept_away(db, superuser):
    from wallet.sign_in_throttle import STAFF, SignInThrottle, forget_old, record_failure
    from wallet.web_sessions import end_expired_sessions, open_session, session_subject

    name, address, start = f"sweep-{random_address()}", random_address(), datetime(2026, 1, 1, 12)
    db.run(lambda s: record_failure(s, STAFF, name, address, now=start))
    token = db.run(lambda s: open_session(s, STAFF, 42, lifetime=timedelta(hours=1), now=start))

    def rows_of_name(session):
        return session.execute(select(SignInThrottle).where(SignInThrottle.name == name)).all()

    db.run(lambda s: forget_old(s, now=start + timedelta(hours=23)))
    db.run(lambda s: end_expired_sessions(s, now=start + timedelta(minutes=30)))
    with db.transaction() as session:
        assert len(rows_of_name(session)) == 1
        assert session_subject(session, STAFF, token, now=start) == 42

    db.run(lambda s: forget_old(s, now=start + timedelta(hours=25)))
    db.run(lambda s: end_expired_sessions(s, now=start + timedelta(hours=2)))
    with db.transaction() as session:
        assert rows_of_name(session) == []
        assert session_subject(session, STAFF, token, now=start) is None
