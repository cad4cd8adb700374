"""Without PULSA_SECRET_KEY the web apps keep one key in the database across restarts."""

from __future__ import annotations

from pulsa.settings import load_settings
from tests.webadmin.conftest import AdminClient, make_client
from wallet.site_secrets import web_secret_key
from webadmin import create_app


def start_admin(db, tmp_path):
    """What a start of `pulsa web` does: read the settings, build the app."""
    app = create_app(load_settings({"PULSA_DATABASE_URL": db.url}), db, upload_folder=tmp_path)
    app.test_client_class = AdminClient
    return app


def test_restart_without_secret_key_keeps_staff_signed_in(db, superuser, tmp_path):
    before = make_client(start_admin(db, tmp_path))
    assert before.sign_in(superuser).status_code == 302
    cookie = before.get_cookie("pulsa_session").value

    after = make_client(start_admin(db, tmp_path))
    after.set_cookie("pulsa_session", cookie)
    page = after.get("/")
    assert page.status_code == 200
    assert superuser in page.get_data(as_text=True)


def test_a_configured_secret_key_wins_and_the_kept_one_is_long_and_stable(db):
    assert web_secret_key(db, "from-the-environment") == "from-the-environment"
    kept = web_secret_key(db, "")
    assert len(kept) == 64 and int(kept, 16) >= 0
    assert web_secret_key(db, "") == kept
