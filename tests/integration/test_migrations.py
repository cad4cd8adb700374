"""`alembic upgrade head` from an empty database, then models and migrations agree."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.databases import create_database, drop_database, selected_backends
from wallet.db import Database
from wallet.migrate import current_revision, schema_differences

REPO = Path(__file__).resolve().parents[2]
ALEMBIC = Path(sys.executable).parent / "alembic"


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    from wallet.migrate import alembic_config

    heads = ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads()
    assert len(heads) == 1, f"migrations must form one line, found heads {heads}"
    return heads[0]


def alembic(url: str, *args: str) -> None:
    env = {**os.environ, "PULSA_DATABASE_URL": url}
    result = subprocess.run(
        [str(ALEMBIC), *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("backend", selected_backends())
def test_upgrade_head_from_empty_gives_exactly_the_models_schema(backend, tmp_path):
    url = create_database(backend, tmp_path, "mig")
    try:
        alembic(url, "upgrade", "head")
        database = Database(url)
        try:
            assert current_revision(database.engine) == head_revision()
            assert schema_differences(database.engine) == []
        finally:
            database.dispose()
    finally:
        drop_database(url)


@pytest.mark.parametrize("backend", selected_backends())
def test_every_revision_downgrades_and_upgrades_again(backend, tmp_path):
    url = create_database(backend, tmp_path, "mig")
    try:
        alembic(url, "upgrade", "head")
        alembic(url, "downgrade", "base")
        alembic(url, "upgrade", "head")
        database = Database(url)
        try:
            assert schema_differences(database.engine) == []
        finally:
            database.dispose()
    finally:
        drop_database(url)
