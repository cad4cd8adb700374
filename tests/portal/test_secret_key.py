"""Without PULSA_SECRET_KEY a restart of the portal keeps customers signed in."""

from __future__ import annotations

from portal import create_app
from portal.app import COOKIE_NAME
from pulsa.settings import load_settings
from tests.portal.conftest import PortalClient, make_client, make_customer, signed_in


def start_portal(db, tmp_path):
    settings = load_settings({"PULSA_DATABASE_URL": db.url, "PULSA_COUNTRY_CODE": "62"})
    app = create_app(settings, db, upload_folder=tmp_path)
    app.test_client_class = PortalClient
    return app


def test_restart_without_secret_key_keeps_customers_signed_in(db, tmp_path):
    person = make_customer(db)
    cookie = signed_in(start_portal(db, tmp_path), person).get_cookie(COOKIE_NAME).value
    after = make_client(start_portal(db, tmp_path))
    after.set_cookie(COOKIE_NAME, cookie)
    assert after.get("/home").status_code == 200
