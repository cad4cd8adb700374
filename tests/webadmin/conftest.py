"""Fixtures of the web admin tests: an app on each database, staff members, and a test
client that signs in and sends the CSRF token the way a browser form does."""

from __future__ import annotations

import itertools
import re
import secrets

import pytest
from flask.testing import FlaskClient

from pulsa.settings import load_settings
from wallet.staff import create_staff, save_role
from webadmin import create_app

PASSWORD = "correct horse battery"
_names = itertools.count(1)
_TOKEN = re.compile(r'name="csrf-token" content="([^"]+)"')


_FIELD = re.compile(r'<div class="field[^"]*">(.*?)</div>', re.S)
_ERROR = re.compile(r'<small class="error">(.*?)</small>', re.S)


def field_errors(page: str, name: str) -> list[str]:
    """The errors shown beside the form field `name` (the `field` macro's `small.error`
    elements inside that field's block), as rendered HTML text."""
    for block in _FIELD.findall(page):
        if f'name="{name}"' in block:
            return _ERROR.findall(block)
    raise AssertionError(f"no field {name!r} on the page")


def page_with(client, url: str, text: str, arg: str = "page") -> str:
    """The page of the list at `url` that shows `text`, going from page to page: the
    tests share a database, so what a test made may be past the first page."""
    joiner = "&" if "?" in url else "?"
    number = 1
    while True:
        page = client.get(f"{url}{joiner}{arg}={number}").get_data(as_text=True)
        if text in page:
            return page
        assert f"{arg}={number + 1}" in page, f"{text!r} is on no page of {url}"
        number += 1


def unique_name(label: str = "staff") -> str:
    return f"{label}{next(_names)}x{secrets.token_hex(2)}"


def random_address() -> str:
    # Each client its own address, so per-address sign-in throttling in one test never
    # locks out the others (they share one database per backend).
    return f"10.{secrets.randbelow(250)}.{secrets.randbelow(250)}.{secrets.randbelow(250) + 1}"


class AdminClient(FlaskClient):
    """A browser stand-in: remembers the CSRF token of the pages it saw and sends it
    with every POST, unless told `csrf=False`."""

    csrf_token: str | None = None

    def open(self, *args, **kwargs):
        response = super().open(*args, **kwargs)
        if response.mimetype == "text/html":
            found = _TOKEN.search(response.get_data(as_text=True))
            if found:
                self.csrf_token = found.group(1)
        return response

    def post(self, *args, csrf: bool = True, **kwargs):
        if csrf:
            if self.csrf_token is None:
                self.get("/sign-in")
            data = kwargs.setdefault("data", {})
            if isinstance(data, dict):
                data.setdefault("csrf_token", self.csrf_token)
        return super().post(*args, **kwargs)

    def sign_in(self, username: str, password: str = PASSWORD):
        self.get("/sign-in")
        response = self.post("/sign-in", data={"username": username, "password": password})
        if response.status_code == 302:
            # Signing in starts a new session with a new CSRF token, as the browser's
            # next page would show.
            self.get("/profile")
        return response


@pytest.fixture
def settings(db):
    return load_settings({"PULSA_DATABASE_URL": db.url, "PULSA_SECRET_KEY": "test-secret"})


@pytest.fixture
def app(db, settings, tmp_path):
    app = create_app(settings, db, upload_folder=tmp_path / "uploads")
    app.test_client_class = AdminClient
    return app


def make_client(app) -> AdminClient:
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = random_address()
    return client


@pytest.fixture
def anonymous(app) -> AdminClient:
    return make_client(app)


def make_staff(db, *, superuser: bool = False, grants: dict[str, str] | None = None, **kw) -> str:
    """A staff member (with a role holding `grants`, if given); returns the user name."""
    username = unique_name()

    def work(session):
        role = None
        if grants is not None:
            role = unique_name("role")
            save_role(session, role, grants, actor="test")
        create_staff(session, username, PASSWORD, role=role, is_superuser=superuser, **kw)

    db.run(work)
    return username


def signed_in(app, username: str) -> AdminClient:
    client = make_client(app)
    response = client.sign_in(username)
    assert response.status_code == 302, response.get_data(as_text=True)
    return client


@pytest.fixture
def superuser(db) -> str:
    return make_staff(db, superuser=True)


@pytest.fixture
def admin(app, superuser) -> AdminClient:
    """A signed-in super admin."""
    return signed_in(app, superuser)


@pytest.fixture
def admin_id(app, db) -> AdminClient:
    """A signed-in super admin who reads the admin in Indonesian."""
    return signed_in(app, make_staff(db, superuser=True, locale="id"))
