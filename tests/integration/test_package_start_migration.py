"""Revision 0022 (packages start on the router): subscriptions already sold keep their
dates and count as started; a router whose last pass failed is unreachable since then."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import MetaData, create_engine, insert, select

from tests.databases import create_database, drop_database, selected_backends
from wallet.migrate import upgrade

BOUGHT = datetime(2026, 11, 1, 9, 0)
FAILED = datetime(2026, 11, 2, 7, 30)


@pytest.fixture(params=selected_backends())
def url(request, tmp_path):
    url = create_database(request.param, tmp_path, label="start")
    try:
        yield url
    finally:
        drop_database(url)


def test_subscriptions_sold_before_keep_their_dates_and_count_as_started(url):
    upgrade(url, "0021")
    engine = create_engine(url)
    try:
        tables = MetaData()
        tables.reflect(engine)
        t = tables.tables
        with engine.begin() as connection:
            connection.execute(
                insert(t["routers"]).values(
                    id=1, name="rw1", host="10.0.0.1", api_port=8728, use_tls=False,
                    tls_verify=True, username="api", password_encrypted="x",
                    hotspot_server="all", enabled=True, last_sync_at=FAILED,
                    last_sync_ok=False, created_at=BOUGHT,
                )
            )  # fmt: skip
            connection.execute(
                insert(t["internet_packages"]).values(
                    id=1, name="Harian", profile_name="harian", description="", price=1,
                    validity_value=1, validity_unit="days", active=True, created_at=BOUGHT,
                )
            )  # fmt: skip
            connection.execute(
                insert(t["hotspot_logins"]).values(
                    id=1, username="andi", username_key="andi-", password="p", kind="customer",
                    status="active", created_at=BOUGHT,
                )
            )  # fmt: skip
            connection.execute(
                insert(t["internet_subscriptions"]).values(
                    id=1, login_id=1, package_id=1, purchase_key="k", price=1, status="active",
                    starts_at=BOUGHT, ends_at=datetime(2026, 11, 2, 9, 0), auto_renew=False,
                    provisioned_at=BOUGHT, actor="test", created_at=BOUGHT,
                )
            )  # fmt: skip
        upgrade(url)
        tables = MetaData()
        tables.reflect(engine)
        subs, routers = tables.tables["internet_subscriptions"], tables.tables["routers"]
        with engine.connect() as connection:
            sub = connection.execute(select(subs)).mappings().one()
            router = connection.execute(select(routers)).mappings().one()
    finally:
        engine.dispose()
    assert (sub["starts_at"], sub["ends_at"]) == (BOUGHT, datetime(2026, 11, 2, 9, 0))
    assert not sub["awaits_start"] and sub["on_router_at"] == BOUGHT
    assert router["unreachable_since"] == FAILED
