"""Every route of the web apps, walked with hostile values: no answer is a 500, no money
moves except through a money form, and the ledger audits clean afterwards.

The routes come from each app's own `url_map`, so a screen added later is walked without
touching this file; the forms and query arguments come from the pages themselves (every
<form> with its input, select and textarea names), the ids from their links. Each app
is walked by each kind of visitor it has (a super admin, a staff member with a limited
role, a stranger). The walk runs on SQLite in a database of its own.

A second app (the customer portal) is walked by adding one `Walked(...)` to `APPS`.
"""

from __future__ import annotations

import re
import secrets
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import quote, urlencode, urlsplit

import pytest
from flask import Flask, got_request_exception
from flask.testing import FlaskClient
from sqlalchemy import func, select
from werkzeug.exceptions import HTTPException
from werkzeug.routing import Rule

from hotspot.backoffice import portal_register
from hotspot.credentials import RouterKeyring, generate_key
from hotspot.routers import add_router
from pulsa.settings import load_settings
from tests.databases import create_database
from tests.hotspot.builders import make_login, make_package
from tests.webadmin.calls_data import calling_account, place_call
from tests.webadmin.conftest import AdminClient, random_address
from wallet import ledger
from wallet.audit import audit
from wallet.db import Database
from wallet.migrate import upgrade
from wallet.models import Account, LedgerEntry
from wallet.payments import create_payment_request, save_bank_account
from wallet.staff import create_staff, save_role
from wallet.vouchers import generate_batch

PASSWORD = "walker horse battery staple"
ROUTER_KEY = generate_key()

#: Values no route should choke on: control characters, a very long text, negative,
#: zero and the largest 64-bit numbers, markup. Each is sent to every field of every form
#: and to every query argument of every page, all fields at once.
HOSTILE = (
    "\x01\x1b[2J",
    "x" * 10_000,
    "-1",
    "1,5",
    "<script>alert(1)</script>",
    # issue 12's findings 1, 2 and 6: numbers beyond 64 bits, amounts that overflow one
    # as micro-units (the largest BIGINT in Settings once broke the dashboard for everyone
    # after), a huge exponent, Unicode digits and dates out of range
    "99999999999999999999",
    "9223372036854775808",
    "9223372036854775807",
    "1e20000000",
    "²",
    "١٢٣",
    "9999-12-31",
    "0000-00-00",
)
#: Sent to one field at a time, the others as the page filled them in: where a form
#: passes validation, the view then uses this number as an id (another customer's, for
#: a form of the first), an amount or a count.
ONE_BY_ONE = "2"
#: Path parameters: the largest BIGINT, zero, and other records' ids (the walk uses
#: real ids of other records for the parameters it does not make hostile).
PATH_VALUES = ("9223372036854775807", "0", "2")
#: Query arguments many lists read, tried on every page besides those of its forms.
COMMON_ARGS = ("page", "format", "from", "to", "q", "status", "after")


@dataclass
class Form:
    action: str
    method: str
    fields: dict[str, str] = field(default_factory=dict)
    choices: dict[str, list[str]] = field(default_factory=dict)
    files: set[str] = field(default_factory=set)


class _PageReader(HTMLParser):
    """The links and forms of a page (names and default values of their fields)."""

    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = url
        self.links: set[str] = set()
        self.forms: list[Form] = []
        self._form: Form | None = None
        self._select: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag, attrs):
        attributes = {name: value or "" for name, value in attrs}
        if tag == "a" and attributes.get("href", "").startswith("/"):
            self.links.add(attributes["href"])
        elif tag == "form":
            action = attributes.get("action") or self.url
            self._form = Form(action, (attributes.get("method") or "get").lower())
            self.forms.append(self._form)
        elif self._form is not None and tag in ("input", "button"):
            name = attributes.get("name")
            if not name:
                return
            kind = attributes.get("type", "text").lower()
            if kind == "file":
                self._form.files.add(name)
            elif kind in ("checkbox", "radio"):
                self._form.choices.setdefault(name, []).append(attributes.get("value", "y"))
                if "checked" in attributes or name not in self._form.fields:
                    self._form.fields[name] = attributes.get("value", "y")
            elif tag == "input":
                self._form.fields.setdefault(name, attributes.get("value", ""))
            if tag == "button" and attributes.get("formaction"):
                self.forms.append(
                    Form(attributes["formaction"], self._form.method, dict(self._form.fields))
                )
        elif self._form is not None and tag == "select":
            self._select = attributes.get("name")
            if self._select:
                self._form.fields.setdefault(self._select, "")
        elif self._form is not None and tag == "option" and self._select:
            value = attributes.get("value", "")
            self._form.choices.setdefault(self._select, []).append(value)
            if "selected" in attributes or not self._form.fields[self._select]:
                self._form.fields[self._select] = value
        elif self._form is not None and tag == "textarea":
            self._textarea = attributes.get("name")
            if self._textarea:
                self._form.fields[self._textarea] = ""

    def handle_data(self, data):
        if self._form is not None and self._textarea:
            self._form.fields[self._textarea] += data

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None
        elif tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None


def read_page(url: str, html: str) -> _PageReader:
    reader = _PageReader(url)
    reader.feed(html)
    return reader


# --- the apps and their visitors -------------------------------------------------------


@dataclass(frozen=True)
class Walked:
    """An app to walk: how to build it on a database, and its visitors (name -> a
    function giving a signed-in client, or an anonymous one)."""

    name: str
    build: Callable[[Database, Path], Flask]
    visitors: tuple[tuple[str, Callable[[Flask, Database], FlaskClient]], ...]
    #: POST endpoints that legitimately move money without a form key (each checked
    #: with an audit afterwards); forms with an idempotency `key` field may too.
    money_endpoints: frozenset[str] = frozenset()
    #: Endpoints a visitor must not walk through (they end the visit itself).
    leaves_session: frozenset[str] = frozenset()


def admin_app(db: Database, folder: Path) -> Flask:
    from webadmin import create_app

    settings = load_settings(
        {
            "PULSA_DATABASE_URL": db.url,
            "PULSA_SECRET_KEY": "walker",
            "PULSA_ROUTER_KEY": ROUTER_KEY,
            "PULSA_ROUTER_TIMEOUT_SECONDS": "1",
            "PULSA_PORTAL_URL": "http://portal.rt05.net/portal",
        }
    )
    app = create_app(settings, db, upload_folder=folder / "uploads")
    app.test_client_class = AdminClient
    return app


def _client(app: Flask) -> FlaskClient:
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = random_address()
    return client


def _staff_client(app: Flask, db: Database, **options) -> FlaskClient:
    username = f"walker{secrets.token_hex(4)}"
    db.run(lambda s: create_staff(s, username, PASSWORD, **options))
    client = _client(app)
    response = client.sign_in(username, PASSWORD)
    assert response.status_code == 302, response.get_data(as_text=True)
    return client


def super_admin(app: Flask, db: Database) -> FlaskClient:
    return _staff_client(app, db, is_superuser=True)


def limited_staff(app: Flask, db: Database) -> FlaskClient:
    """May view every screen and change customers only."""
    screens = app.extensions["pulsa.screens"]
    role = f"walker-role-{secrets.token_hex(3)}"
    grants = {name: "view" for name in screens} | {"customers": "change"}
    db.run(lambda s: save_role(s, role, grants, actor="walker"))
    return _staff_client(app, db, role=role)


def anonymous(app: Flask, db: Database) -> FlaskClient:
    return _client(app)


def portal_app(db: Database, folder: Path) -> Flask:
    from portal import create_app
    from tests.portal.conftest import PortalClient

    settings = load_settings(
        {
            "PULSA_DATABASE_URL": db.url,
            "PULSA_SECRET_KEY": "walker",
            "PULSA_COUNTRY_CODE": "62",
            "PULSA_PORTAL_URL": "http://portal.rt05.net",
        }
    )
    app = create_app(settings, db, upload_folder=folder / "uploads")
    app.test_client_class = PortalClient
    return app


def customer(app: Flask, db: Database) -> FlaskClient:
    """The first seeded customer, who has a portal password (the second has money too:
    the walk's real ids include theirs)."""
    from tests.portal.conftest import make_customer

    person = make_customer(db, 10_000_000_000, password=PASSWORD)
    client = _client(app)
    response = client.sign_in(person.phone, PASSWORD)
    assert response.status_code == 302, response.get_data(as_text=True)
    return client


APPS = (
    Walked(
        "webadmin",
        admin_app,
        (("super admin", super_admin), ("limited staff", limited_staff), ("anonymous", anonymous)),
        money_endpoints=frozenset(
            {"payments.confirm", "registrations.confirm", "vouchers.redeem", "calls.hangup"}
        ),
        leaves_session=frozenset({"signin.sign_out"}),
    ),
    Walked(
        "portal",
        portal_app,
        (("customer", customer), ("anonymous", anonymous)),
        leaves_session=frozenset({"signin.sign_out"}),
    ),
)


# --- the data the walk finds ----------------------------------------------------------


def seed(db: Database, folder: Path) -> None:
    """Two customers with money, calls, a plan, hotspot logins, a package, a router, a
    voucher batch, a registration, a payment request and a bank account: something
    behind every kind of id."""
    first, code = calling_account(db, name="Walker One")
    second, _code = calling_account(db, name="Walker Two")
    place_call(db, code, "628111", datetime(2026, 3, 2, 2, 0, tzinfo=UTC), 60)
    package_id = make_package(db, name="Walker Daily")
    make_login(db, 20_000_000_000, username="walkeruser")

    def work(session):
        ledger.top_up(session, second, 30_000_000_000, key="walker-opening")
        add_router(
            session,
            RouterKeyring(ROUTER_KEY),
            name="Walker router",
            host="127.0.0.1",
            username="admin",
            password="secret",
            port=1,
        )
        generate_batch(session, package=package_id, count=2, actor="walker")
        portal_register(
            session,
            name="Walker Registered",
            username="walkerreg",
            password="rahasia99x",
            package_id=package_id,
            currency="IDR",
        )
        create_payment_request(session, first, 25_000_000_000, reference="TRF-W", source="portal")
        save_bank_account(
            session, actor="walker", bank_name="BRI", account_number="0123", holder_name="RT 05"
        )

    db.run(work)


def money(db: Database) -> tuple[int, int]:
    with db.transaction() as session:
        return (
            session.execute(select(func.coalesce(func.sum(Account.balance), 0))).scalar_one(),
            session.execute(select(func.count()).select_from(LedgerEntry)).scalar_one(),
        )


# --- the walk -------------------------------------------------------------------------


@dataclass
class Walk:
    app: Flask
    db: Database
    walked: Walked
    visitor: str
    sign_in: Callable[[Flask, Database], FlaskClient]
    client: FlaskClient = field(init=False)
    failures: list[str] = field(default_factory=list)
    requests: int = 0
    _exception: BaseException | None = None

    def __post_init__(self) -> None:
        self.client = self.sign_in(self.app, self.db)

    def remember(self, _sender, exception, **_extra) -> None:
        self._exception = exception

    def request(self, method: str, url: str, data: dict | None = None, *, key: bool = False):
        self._exception = None
        before = money(self.db) if method == "POST" else None
        if method == "POST":
            data = {"csrf_token": self.client.csrf_token or "", **(data or {})}
            response = self.client.post(url, data=data, csrf=False)
        else:
            response = self.client.get(url)
        self.requests += 1
        endpoint = self.endpoint(url)
        shown = f"{self.walked.name} as {self.visitor}: {method} {_short(url)}"
        if data:
            shown += f" {_short(repr({k: v for k, v in data.items() if k != 'csrf_token'}))}"
        if response.status_code >= 500:
            cause = ""
            if self._exception is not None:
                last = traceback.extract_tb(self._exception.__traceback__)[-1]
                cause = (
                    f" <- {type(self._exception).__name__}: {_short(str(self._exception))}"
                    f" at {Path(last.filename).name}:{last.lineno}"
                )
            self.failures.append(f"{response.status_code} {shown}{cause}")
        if before is not None:
            after = money(self.db)
            if after != before and not (key or endpoint in self.walked.money_endpoints):
                self.failures.append(f"money moved {before} -> {after}: {shown}")
        if endpoint in self.walked.leaves_session or response.status_code == 401:
            self.client = self.sign_in(self.app, self.db)
        return response

    def endpoint(self, url: str) -> str | None:
        adapter = self.app.url_map.bind("localhost")
        try:
            return adapter.match(urlsplit(url).path, method="GET")[0]
        except HTTPException:
            try:
                return adapter.match(urlsplit(url).path, method="POST")[0]
            except HTTPException:
                return None


def _short(text: str, limit: int = 160) -> str:
    text = text.replace("x" * 10_000, "x*10000")
    return text if len(text) <= limit else text[:limit] + "..."


def _rules(app: Flask) -> list[Rule]:
    return sorted(
        (rule for rule in app.url_map.iter_rules() if rule.endpoint != "static"),
        key=lambda rule: rule.rule,
    )


_PARAMETER = re.compile(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>")


def _fill(rule: Rule, values: dict[str, str]) -> str:
    return _PARAMETER.sub(lambda m: values.get(m.group(2), "1"), rule.rule)


def explore(walk: Walk) -> tuple[dict[str, dict[str, str]], dict[str, _PageReader]]:
    """GET every route with real-looking ids (from links found on the way): the pages,
    and per endpoint the path values of one real address."""
    known: dict[str, dict[str, str]] = {}
    pages: dict[str, _PageReader] = {}
    adapter = walk.app.url_map.bind("localhost")
    pending = [_fill(rule, {}) for rule in _rules(walk.app) if "GET" in rule.methods]
    seen: set[str] = set()
    while pending:
        url = pending.pop(0)
        if url in seen or len(seen) > 200:
            continue
        seen.add(url)
        try:
            endpoint, values = adapter.match(urlsplit(url).path, method="GET")
        except HTTPException:
            continue
        if endpoint in pages and values == {} and "?" in url:
            continue
        response = walk.request("GET", url)
        known.setdefault(endpoint, {k: str(v) for k, v in values.items()})
        if response.mimetype != "text/html" or response.status_code != 200:
            continue
        page = read_page(url, response.get_data(as_text=True))
        pages.setdefault(endpoint, page)
        for link in sorted(page.links):
            try:
                linked, linked_values = adapter.match(urlsplit(link).path, method="GET")
            except HTTPException:
                continue
            if linked not in known or (linked_values and known[linked] == {}):
                pending.append(urlsplit(link).path)
    return known, pages


def hostile_paths(walk: Walk, known: dict[str, dict[str, str]], values=PATH_VALUES) -> None:
    """Every route with each of its path parameters hostile, the others real."""
    for rule in _rules(walk.app):
        real = known.get(rule.endpoint, {})
        for argument in sorted(rule.arguments):
            for value in (*values, "x" * 10_000) if _is_text(rule, argument) else values:
                url = _fill(rule, {**real, argument: quote(value, safe="")})
                walk.request("GET" if "GET" in rule.methods else "POST", url)


def _is_text(rule: Rule, argument: str) -> bool:
    return type(rule._converters[argument]).__name__ in ("UnicodeConverter", "PathConverter")


def hostile_queries(walk: Walk, known, pages: dict[str, _PageReader]) -> None:
    """Every page with hostile query arguments (those of its GET forms and the usual
    ones), all at once, each hostile value in turn."""
    for rule in _rules(walk.app):
        if "GET" not in rule.methods or rule.endpoint not in known:
            continue
        url = _fill(rule, known[rule.endpoint])
        names = set(COMMON_ARGS)
        page = pages.get(rule.endpoint)
        if page is not None:
            for form in page.forms:
                if form.method == "get":
                    names.update(name for name in form.fields if name != "csrf_token")
        for value in HOSTILE:
            walk.request("GET", f"{url}?{urlencode(dict.fromkeys(sorted(names), value))}")


def post_forms(pages: dict[str, _PageReader]) -> list[Form]:
    forms: dict[tuple[str, tuple[str, ...]], Form] = {}
    for page in pages.values():
        for form in page.forms:
            if form.method == "post":
                forms.setdefault((form.action, tuple(sorted(form.fields))), form)
    return [forms[key] for key in sorted(forms)]


def hostile_forms(walk: Walk, pages: dict[str, _PageReader], values=HOSTILE) -> None:
    """Every POST form found, sent with each hostile value in all its fields at once,
    then with ONE_BY_ONE in each field alone (the others as the page filled them in)."""
    for form in post_forms(pages):
        key = "key" in form.fields
        editable = [name for name in form.fields if name not in ("csrf_token", "key")]
        for value in values:
            walk.request(
                "POST", form.action, {**form.fields, **dict.fromkeys(editable, value)}, key=key
            )
        if values is HOSTILE:
            for name in editable:
                walk.request("POST", form.action, {**form.fields, name: ONE_BY_ONE}, key=key)


def hostile_posts_without_a_form(walk: Walk, known, pages) -> None:
    """POST routes no page showed a form for, with hostile values in the usual names."""
    shown = {walk.endpoint(form.action) for form in post_forms(pages)}
    for rule in _rules(walk.app):
        if "POST" in rule.methods and rule.endpoint not in shown:
            url = _fill(rule, known.get(rule.endpoint, {}))
            for value in HOSTILE[:3]:
                names = ("amount", "name", "status", "reason", "enabled")
                walk.request("POST", url, dict.fromkeys(names, value))


def walk_thoroughly(walk: Walk) -> None:
    known, pages = explore(walk)
    hostile_paths(walk, known)
    hostile_queries(walk, known, pages)
    hostile_forms(walk, pages)
    hostile_posts_without_a_form(walk, known, pages)


def walk_lightly(walk: Walk) -> None:
    """For visitors who may do less: what they can reach, forms with the sharpest values."""
    known, pages = explore(walk)
    hostile_paths(walk, known, PATH_VALUES[:1])
    hostile_forms(walk, pages, HOSTILE[:3])


@pytest.fixture(scope="module")
def walker_db(tmp_path_factory) -> Iterator[Database]:
    folder = tmp_path_factory.mktemp("walker")
    url = create_database("sqlite", folder, "walker")
    upgrade(url)
    db = Database(url)
    seed(db, folder)
    yield db
    db.dispose()


@pytest.mark.parametrize("walked", APPS, ids=lambda walked: walked.name)
def test_every_route_survives_hostile_values_without_a_500_or_moving_money(
    walked, walker_db, tmp_path
):
    app = walked.build(walker_db, tmp_path)
    failures: list[str] = []
    total = 0
    for visitor, sign_in in walked.visitors:
        walk = Walk(app, walker_db, walked, visitor, sign_in)
        got_request_exception.connect(walk.remember, app)
        try:
            (walk_thoroughly if visitor == walked.visitors[0][0] else walk_lightly)(walk)
        finally:
            got_request_exception.disconnect(walk.remember, app)
        failures += walk.failures
        total += walk.requests
    with walker_db.transaction() as session:
        report = audit(session)
    assert report.clean, report.problems
    assert total > 100 * len(walked.visitors)
    assert failures == [], f"{len(failures)} of {total} requests failed:\n" + "\n".join(failures)
