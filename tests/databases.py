"""Throw-away databases on SQLite, PostgreSQL and MariaDB for the tests.

Each test run creates its own uniquely named databases on the local servers, migrates
them with Alembic and drops them at the end. `PULSA_TEST_DATABASES` picks the backends
(default: all three, comma-separated); `PULSA_TEST_PG` and `PULSA_TEST_MARIADB` give the
server URLs without a database name.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from sqlalchemy import create_engine, text

ALL_BACKENDS = ("sqlite", "postgresql", "mariadb")
PG_SERVER = os.environ.get("PULSA_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432")
MARIADB_SERVER = os.environ.get("PULSA_TEST_MARIADB", "mysql+pymysql://root@127.0.0.1:3306")


def selected_backends() -> list[str]:
    wanted = os.environ.get("PULSA_TEST_DATABASES", ",".join(ALL_BACKENDS))
    chosen = [name.strip() for name in wanted.split(",") if name.strip()]
    unknown = set(chosen) - set(ALL_BACKENDS)
    if unknown:
        raise ValueError(f"PULSA_TEST_DATABASES: unknown backend(s) {sorted(unknown)}")
    return chosen


def create_database(backend: str, folder: Path, label: str = "t") -> str:
    """Create an empty database and return its SQLAlchemy URL."""
    name = f"pulsa_{label}_{os.getpid()}_{secrets.token_hex(3)}"
    if backend == "sqlite":
        return f"sqlite:///{folder / (name + '.db')}"
    if backend == "postgresql":
        _admin(f"{PG_SERVER}/postgres", f'CREATE DATABASE "{name}"')
        return f"{PG_SERVER}/{name}"
    if backend == "mariadb":
        _admin(
            f"{MARIADB_SERVER}/",
            f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci",
        )
        return f"{MARIADB_SERVER}/{name}?charset=utf8mb4"
    raise ValueError(backend)


def drop_database(url: str) -> None:
    if url.startswith("sqlite"):
        return
    server, _, name = url.partition("?")[0].rpartition("/")
    if url.startswith("postgresql"):
        _admin(f"{server}/postgres", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    else:
        _admin(f"{server}/", f"DROP DATABASE IF EXISTS `{name}`")


def _admin(url: str, statement: str) -> None:
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(text(statement))
    finally:
        engine.dispose()
