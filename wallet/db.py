"""Engines and transactions, built from a URL: no connection exists until asked for."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from wallet.errors import WalletError

T = TypeVar("T")

# Session.info flags between `Database.run` and the ledger: on a first attempt the ledger
# skips looking up idempotency keys and lets the unique index catch a replay, which saves
# a round trip inside the row lock; `run` then repeats the work with the lookup.
OPTIMISTIC_KEYS = "pulsa.optimistic_keys"
SKIPPED_KEY_LOOKUP = "pulsa.skipped_key_lookup"

# Errors after which the whole transaction can safely run again: deadlocks, lock
# timeouts, serialization failures and SQLite's "database is locked".
_RETRYABLE_MARKERS = (
    "deadlock",
    "lock wait timeout",
    "could not serialize",
    "database is locked",
    "1213",
    "1205",
    "40001",
    "40P01",
)


def make_engine(url: str, *, pool_size: int = 10, echo: bool = False) -> Engine:
    """Create an engine with pulsa's locking rules for the database behind `url`.

    SQLite runs every transaction as BEGIN IMMEDIATE (one writer at a time, taken at
    the start so a read-then-write never fails half way); the servers use READ
    COMMITTED and explicit SELECT ... FOR UPDATE row locks.
    """
    if url.startswith("sqlite"):
        engine = create_engine(url, echo=echo, connect_args={"timeout": 30})
        _make_sqlite_transactions_immediate(engine)
        return engine
    # No pre-ping (a round trip on every checkout): `Database.run` runs the work again
    # on a fresh connection when the server went away instead.
    return create_engine(
        url,
        echo=echo,
        pool_size=pool_size,
        max_overflow=pool_size,
        isolation_level="READ COMMITTED",
    )


def _make_sqlite_transactions_immediate(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA busy_timeout = 30000")
        if engine.url.database not in (None, "", ":memory:"):
            cursor.execute("PRAGMA journal_mode = WAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def is_retryable(error: BaseException) -> bool:
    if not isinstance(error, OperationalError | DBAPIError):
        return False
    text = str(getattr(error, "orig", error)).lower()
    return any(marker.lower() in text for marker in _RETRYABLE_MARKERS)


class Database:
    """An engine and its session factory; one per process, built from settings."""

    def __init__(self, url: str, *, pool_size: int = 10, echo: bool = False) -> None:
        self.url = url
        self.engine = make_engine(url, pool_size=pool_size, echo=echo)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One transaction: committed when the block ends, rolled back on any error."""
        with self.sessions.begin() as session:
            yield session

    def run(self, work: Callable[[Session], T], *, attempts: int = 5) -> T:
        """Run `work` in a transaction, again from the start after a deadlock, a lock
        timeout or a lost connection. `work` must do nothing outside the database.

        Money operations are idempotent by key, so running them again after a commit whose
        outcome was lost returns the first result instead of applying them twice.
        """
        optimistic = True
        failures = 0
        while True:
            try:
                with self.transaction() as session:
                    session.info[OPTIMISTIC_KEYS] = optimistic
                    return work(session)
            except IntegrityError as error:
                if optimistic and "idempotency_key" in str(error.orig):
                    optimistic = False  # a replay: look the key up this time
                    continue
                raise
            except WalletError:
                if optimistic and session.info.get(SKIPPED_KEY_LOOKUP):
                    optimistic = False  # a refusal may hide a replay: look the key up
                    continue
                raise
            except (OperationalError, DBAPIError) as error:
                failures += 1
                retryable = is_retryable(error) or error.connection_invalidated
                if failures >= attempts or not retryable:
                    raise
                time.sleep(random.uniform(0.005, 0.05) * failures)

    def dispose(self) -> None:
        self.engine.dispose()
