"""What the PostgreSQL benches share: a database of their own, migrated to the newest
revision and dropped at the end, and the machine's figures printed before theirs.

The server comes from PULSA_BENCH_PG or PULSA_TEST_PG (default
postgresql+psycopg://postgres@127.0.0.1:5432)."""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from authorize import baseline, cpu_model
from sqlalchemy import create_engine, text

from wallet.migrate import upgrade

SERVER = os.environ.get(
    "PULSA_BENCH_PG",
    os.environ.get("PULSA_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432"),
)


@contextmanager
def scratch_database(label: str) -> Iterator[str]:
    """The URL of a new database `pulsa_bench_<label>_<random>` at the newest revision,
    dropped when the block ends, however it ends."""
    name = f"pulsa_bench_{label}_{secrets.token_hex(3)}"
    admin = create_engine(f"{SERVER}/postgres", isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        url = f"{SERVER}/{name}"
        try:
            upgrade(url)
            yield url
        finally:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def print_machine(url: str) -> None:
    """Python, the processor, the load now, and the baseline the figures compare with."""
    print(f"python    {sys.version.split()[0]}")
    print(f"cpu       {cpu_model()}, {os.cpu_count()} cores")
    print(f"load      {' '.join(f'{x:.2f}' for x in os.getloadavg())} (1, 5, 15 min)")
    print(baseline(url))
