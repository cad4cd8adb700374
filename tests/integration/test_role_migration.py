"""Revision 0013 splits "change customers" into jobs and gives revenue to the roles that
saw it: every role keeps what it could do before."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import create_engine, insert, select

from tests.databases import create_database, drop_database, selected_backends
from wallet.migrate import upgrade
from wallet.staff import Role, RolePermission

BEFORE = {
    "owner": {"customers": "change", "dashboard": "view", "reports": "view", "calls": "change"},
    "clerk": {"customers": "view", "dashboard": "view"},
    "accountant": {"reports": "view"},
    "technician": {"routers": "change", "calls": "view"},
    "nobody": {},
}
MONEY_JOBS = {"top_up": "change", "adjust": "change", "transfer": "change"}
AFTER = {
    "owner": {**BEFORE["owner"], **MONEY_JOBS, "credit_limit": "change", "revenue": "change"},
    "clerk": {**BEFORE["clerk"], "revenue": "change"},
    "accountant": {**BEFORE["accountant"], "revenue": "change"},
    "technician": BEFORE["technician"],
    "nobody": {},
}


@pytest.fixture(params=selected_backends())
def url(request, tmp_path):
    url = create_database(request.param, tmp_path, label="roles")
    try:
        yield url
    finally:
        drop_database(url)


def test_upgrading_keeps_every_roles_rights_and_adds_the_jobs_they_included(url):
    upgrade(url, "0016")
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            for name, grants in BEFORE.items():
                role_id = connection.execute(
                    insert(Role.__table__).values(
                        name=name, description="", created_at=datetime(2026, 12, 1)
                    )
                ).inserted_primary_key[0]
                for screen, level in grants.items():
                    connection.execute(
                        insert(RolePermission.__table__).values(
                            role_id=role_id, screen=screen, level=level
                        )
                    )
        upgrade(url)
        with engine.connect() as connection:
            found: dict[str, dict[str, str]] = {name: {} for name in BEFORE}
            for name, screen, level in connection.execute(
                select(Role.name, RolePermission.screen, RolePermission.level).join(
                    RolePermission, RolePermission.role_id == Role.id
                )
            ):
                found[name][screen] = level
    finally:
        engine.dispose()
    assert found == AFTER
