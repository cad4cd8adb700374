"""The public registration page's limits hold when many submissions arrive at once: the
count and the registration it allows are one step in the database, so exactly the limit
gets through, whatever the timing.

Only PostgreSQL and MariaDB (SQLite serializes every writer, there is nothing to race).
"""

from __future__ import annotations

import secrets
import threading
from collections import Counter

import pytest

from hotspot.backoffice import RegistrationLimits
from portal import create_app
from portal.pages import register as registration
from tests.databases import selected_backends
from tests.hotspot.builders import make_package, new_name
from tests.portal.conftest import PortalClient
from tests.webadmin.hotspot_data import hotspot_settings
from wallet.db import Database

pytestmark = pytest.mark.slow

SERVER_BACKENDS = [name for name in ("postgresql", "mariadb") if name in selected_backends()]
SUBMISSIONS = 20


@pytest.fixture(params=SERVER_BACKENDS)
def database(request: pytest.FixtureRequest, migrated_urls: dict[str, str]):
    db = Database(migrated_urls[request.param], pool_size=25)
    yield db
    db.dispose()


def test_twenty_simultaneous_registrations_from_one_address_let_exactly_the_limit_through(
    database, tmp_path, monkeypatch
):
    monkeypatch.setattr(registration, "REGISTRATION_LIMITS", RegistrationLimits(per_address=5))
    app = create_app(hotspot_settings(database), database, upload_folder=tmp_path)
    app.test_client_class = PortalClient
    package_id = make_package(database)
    address = f"10.99.{secrets.randbelow(250)}.{secrets.randbelow(250) + 1}"
    start = threading.Barrier(SUBMISSIONS)
    codes: list[int] = []

    def submit() -> None:
        visitor = app.test_client()
        visitor.environ_base["REMOTE_ADDR"] = address
        visitor.get("/register/")
        user = new_name("rush")
        form = {
            "package": str(package_id),
            "name": "Siti Aminah",
            "phone": "0812 3456 7890",
            "username": user,
            "password": "rahasia99",
            "confirm": "rahasia99",
        }
        start.wait(timeout=60)
        codes.append(visitor.post("/register/", data=form).status_code)

    threads = [threading.Thread(target=submit) for _ in range(SUBMISSIONS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert Counter(codes) == {302: 5, 429: SUBMISSIONS - 5}
