"""Fixtures shared by every test: migrated databases on each backend, and builders."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import delete

from pulsa.settings import load_settings
from tests.databases import create_database, drop_database, selected_backends
from wallet import ledger
from wallet.customers import create_customer
from wallet.db import Database
from wallet.migrate import upgrade
from wallet.site_settings import SiteSetting, note_saved, save_site_config

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO.parent / "shared" / "fixtures"

_keys = itertools.count(1)


def unique_key(label: str = "k") -> str:
    return f"{label}-{next(_keys)}-{id(_keys)}"


@pytest.fixture(scope="session")
def migrated_urls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    folder = tmp_path_factory.mktemp("databases")
    urls: dict[str, str] = {}
    try:
        for backend in selected_backends():
            urls[backend] = create_database(backend, folder)
            upgrade(urls[backend])
        yield urls
    finally:
        for url in urls.values():
            drop_database(url)


@pytest.fixture(scope="session", params=selected_backends())
def db(request: pytest.FixtureRequest, migrated_urls: dict[str, str]) -> Iterator[Database]:
    """A migrated database on each selected backend, shared by the tests of a run: tests
    make their own customers and never assume an empty database."""
    database = Database(migrated_urls[request.param], pool_size=20)
    yield database
    database.dispose()


@pytest.fixture(params=selected_backends())
def empty_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """An empty, migrated database of the test's own on each selected backend (the shared
    one holds the other tests' data), for what needs an empty database."""
    url = create_database(request.param, tmp_path, label="empty")
    try:
        upgrade(url)
        database = Database(url)
        yield database
        database.dispose()
    finally:
        drop_database(url)


def make_account(db: Database, balance: int = 0, *, credit_limit: int = 0, **kwargs) -> int:
    """A new customer with a wallet topped up with `balance` micro-units; its account id."""

    def work(session):
        _, account = create_customer(
            session,
            kwargs.pop("name", "Test Customer"),
            currency="IDR",
            credit_limit=credit_limit,
            **kwargs,
        )
        if balance:
            ledger.top_up(session, account.id, balance, key=unique_key("opening"))
        return account.id

    return db.run(work)


@pytest.fixture
def admin_settings(db: Database) -> Iterator:
    """`admin_settings(call_slice_seconds=30, ...)` saves runtime settings as an admin does
    on the Settings screen. They are removed after the test: the database is shared, and
    the other tests expect the environment's settings to apply."""
    saved: set[str] = set()

    def save(**values: object) -> None:
        # The environment of a site with a listener (live calls), as before the safe default.
        settings = load_settings({"PULSA_DATABASE_URL": db.url, "PULSA_CALL_MODE": "live"})
        db.run(lambda session: save_site_config(session, settings, values, actor="tester"))
        saved.update(values)

    yield save
    if saved:
        db.run(
            lambda session: session.execute(delete(SiteSetting).where(SiteSetting.key.in_(saved)))
        )
        note_saved()  # what this process cached of them is read again
