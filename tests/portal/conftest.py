"""Fixtures of the portal tests: the portal on each database, customers with a portal
password, and a test client that sends the CSRF token the way a browser form does."""

from __future__ import annotations

import itertools
import re
import secrets

import pytest
from flask.testing import FlaskClient

from portal import create_app
from pulsa.settings import load_settings
from wallet import ledger
from wallet.customer_access import issue_portal_link, set_password_with_link
from wallet.customers import create_customer

PASSWORD = "lumbung padi 47 kenari"
_numbers = itertools.count(1)
_TOKEN = re.compile(r'name="csrf-token" content="([^"]+)"')
_FIELD = re.compile(r'<div class="field[^"]*">(.*?)</div>', re.S)
_ERROR = re.compile(r'<small class="error">(.*?)</small>', re.S)


def field_errors(page: str, name: str) -> list[str]:
    """The errors shown beside the form field `name`."""
    for block in _FIELD.findall(page):
        if f'name="{name}"' in block:
            return _ERROR.findall(block)
    raise AssertionError(f"no field {name!r} on the page")


def random_address() -> str:
    return f"10.{secrets.randbelow(250)}.{secrets.randbelow(250)}.{secrets.randbelow(250) + 1}"


def unique_phone() -> str:
    """A phone number nobody else in the shared test database has."""
    return f"0812{secrets.randbelow(10**7):07d}{next(_numbers) % 10}"


class PortalClient(FlaskClient):
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

    def sign_in(self, identifier: str, password: str = PASSWORD):
        self.get("/sign-in")
        response = self.post("/sign-in", data={"identifier": identifier, "password": password})
        if response.status_code == 302:
            self.get("/home")  # the new session's CSRF token
        return response


@pytest.fixture
def settings(db):
    return load_settings(
        {
            "PULSA_DATABASE_URL": db.url,
            "PULSA_SECRET_KEY": "test-secret",
            "PULSA_COUNTRY_CODE": "62",
            "PULSA_PORTAL_URL": "https://portal.example.net",
        }
    )


@pytest.fixture
def portal(db, settings, tmp_path):
    app = create_app(settings, db, upload_folder=tmp_path / "uploads")
    app.test_client_class = PortalClient
    return app


def make_client(app) -> PortalClient:
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = random_address()
    return client


@pytest.fixture
def anonymous(portal) -> PortalClient:
    return make_client(portal)


class Person:
    """A customer made for a test: ids, phone, and the wallet's balance at the start."""

    def __init__(self, customer_id: int, account_id: int, phone: str, name: str) -> None:
        self.customer_id = customer_id
        self.account_id = account_id
        self.phone = phone
        self.name = name


def make_customer(db, balance: int = 0, *, password: str | None = PASSWORD, **kw) -> Person:
    """A customer with a wallet holding `balance` and (unless None) a portal password."""
    phone = kw.pop("phone", None) or unique_phone()
    name = kw.pop("name", None) or f"Customer {next(_numbers)}"

    def work(session):
        customer, account = create_customer(session, name, currency="IDR", phone=phone, **kw)
        if balance:
            ledger.top_up(session, account.id, balance, key=f"test-start:{account.id}")
        if password is not None:
            token, _ = issue_portal_link(session, customer.id, actor="test")
            set_password_with_link(session, token, password)
        return Person(customer.id, account.id, phone, name)

    return db.run(work)


def signed_in(app, person: Person, password: str = PASSWORD) -> PortalClient:
    client = make_client(app)
    response = client.sign_in(person.phone, password)
    assert response.status_code == 302, response.get_data(as_text=True)
    return client


@pytest.fixture
def alice(db) -> Person:
    return make_customer(db, 50_000_000_000, name="Alice")


@pytest.fixture
def bob(db) -> Person:
    return make_customer(db, 7_000_000_000, name="Bob")
