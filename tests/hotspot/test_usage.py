"""The routers' counters of a login (online time, data) kept for the subscription they
count for, read through the real librouteros client from the RouterOS emulator on every
pass; an earlier subscription's counters (about to be reset) are nobody's use; and the
customer's home page shows used and left, with when the router was read."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from hotspot.reconciler import sync_all
from pulsa.settings import load_settings
from tests.conftest import unique_key
from tests.hotspot.builders import RUPIAH, make_login, make_package, new_name
from tests.hotspot.router import HotspotRouter, keyring, register
from wallet.hotspot_models import HotspotLogin
from wallet.internet import buy_package
from wallet.models import Account
from wallet.usage import usage_of

NOW = datetime(2026, 6, 1, 8, 0, 0)
GB = 1024**3


@pytest.fixture
def router():
    with HotspotRouter(identity="RW-10") as emulator:
        yield emulator


def sync(db, ring, router_id: int, now: datetime):
    [report] = sync_all(db, ring, router_ids=[router_id], now=now, timeout=2.0).routers
    assert report.ok, report.error
    return report


def bought(db, router_id: int, balance: int = 10_000 * RUPIAH):
    package = make_package(
        db,
        3_000 * RUPIAH,
        router_ids=[router_id],
        limit_uptime=8 * 3600,
        limit_bytes_total=5 * GB,
    )
    name = new_name("dewi")
    account, login = make_login(db, balance, username=name)
    sub = db.run(lambda s: buy_package(s, login, package, key=unique_key("buy"), now=NOW))
    return account, login, name, package, sub.id


def test_each_pass_keeps_the_routers_counters_for_the_subscription_they_count_for(db, router):
    ring = keyring()
    router_id = register(db, ring, router)
    _, login, name, package, first = bought(db, router_id)
    sync(db, ring, router_id, NOW)
    router.set_user(name, uptime="2h5m", **{"bytes-in": str(GB), "bytes-out": str(GB // 2)})
    read_at = NOW + timedelta(minutes=10)
    sync(db, ring, router_id, read_at)
    [usage] = db.run(lambda s: list(usage_of(s, [first]).values()))
    assert (usage.uptime_seconds, usage.bytes_total, usage.read_at) == (
        2 * 3600 + 5 * 60,
        GB + GB // 2,
        read_at,
    )
    # The next package on the login: the router's counters still count for the first
    # until this pass resets them; none of it is the new one's use.
    later = NOW + timedelta(days=1, minutes=1)
    second = db.run(lambda s: buy_package(s, login, package, key=unique_key("buy"), now=later))
    sync(db, ring, router_id, later)
    assert db.run(lambda s: usage_of(s, [second.id])) == {}
    sync(db, ring, router_id, later + timedelta(minutes=1))
    assert db.run(lambda s: usage_of(s, [second.id]))[second.id].uptime_seconds == 0


def test_home_shows_time_and_data_used_and_left_and_when_the_router_was_read(db, router, tmp_path):
    from portal import create_app
    from tests.portal.conftest import PortalClient, random_address
    from wallet.customer_access import issue_portal_link, set_password_with_link

    ring = keyring()
    router_id = register(db, ring, router)
    account, login, name, _package, _sub = bought(db, router_id)
    moment = datetime.now().replace(microsecond=0)  # the page shows what runs now
    sync(db, ring, router_id, moment)
    router.set_user(name, uptime="2h", **{"bytes-in": str(GB), "bytes-out": str(GB)})
    sync(db, ring, router_id, moment)

    def password(session):
        customer_id = session.get(Account, account).customer_id
        token, _ = issue_portal_link(session, customer_id, actor="test")
        set_password_with_link(session, token, "sawah hijau 2026 pagi")

    db.run(password)
    settings = load_settings({"PULSA_DATABASE_URL": db.url, "PULSA_SECRET_KEY": "usage"})
    app = create_app(settings, db, upload_folder=tmp_path)
    app.test_client_class = PortalClient
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = random_address()
    assert client.sign_in(name, db.run(lambda s: s.get(HotspotLogin, login).password)).status_code
    page = client.get("/home").get_data(as_text=True)
    assert "Online time: 2 h used of 8 h, 6 h left" in page
    assert "Data: 2 GB used of 5 GB, 3 GB left" in page
    assert 'data-test="usage-read"' in page
