"""Builders for the tests of the internet screens: settings with a router key, a
customer with a wallet and a hotspot login, packages, roles limited to some screens."""

from __future__ import annotations

import re

from sqlalchemy import select

from hotspot.credentials import RouterKeyring, generate_key
from pulsa.settings import load_settings
from tests.hotspot.builders import RUPIAH, balance_of, make_login, make_package, new_name
from tests.webadmin.conftest import make_staff, signed_in
from wallet.hotspot_models import HotspotLogin, Subscription
from wallet.models import Account

ROUTER_KEY = generate_key()
HOTSPOT_SCREENS = (
    "routers",
    "packages",
    "subscriptions",
    "registrations",
    "vouchers",
    "hotspot_pages",
)
_KEY_FIELD = re.compile(r'name="key" type="hidden" value="([0-9a-f]{32})"')

__all__ = [
    "HOTSPOT_SCREENS",
    "RUPIAH",
    "balance_of",
    "make_login",
    "make_package",
    "new_name",
]


def hotspot_settings(db, **extra: str):
    values = {
        "PULSA_DATABASE_URL": db.url,
        "PULSA_SECRET_KEY": "test-secret",
        "PULSA_ROUTER_KEY": ROUTER_KEY,
        "PULSA_ROUTER_TIMEOUT_SECONDS": "2",
    }
    values.update(extra)
    return load_settings(values)


def ring() -> RouterKeyring:
    return RouterKeyring(ROUTER_KEY)


def form_key(page: str) -> str:
    """The idempotency key a rendered money form carries."""
    found = _KEY_FIELD.search(page)
    assert found, "no form key on the page"
    return found.group(1)


def client_with(app, db, level: str, screens=HOTSPOT_SCREENS):
    """A signed-in staff member whose role has `level` on `screens` (and nothing else)."""
    return signed_in(app, make_staff(db, grants={screen: level for screen in screens}))


def customer_of(db, account_id: int) -> int:
    with db.transaction() as session:
        return session.get(Account, account_id).customer_id


def login_status(db, login_id: int) -> str:
    with db.transaction() as session:
        return session.get(HotspotLogin, login_id).status


def subscriptions_of(db, login_id: int) -> list[Subscription]:
    with db.transaction() as session:
        return list(
            session.execute(
                select(Subscription)
                .where(Subscription.login_id == login_id)
                .order_by(Subscription.id)
            ).scalars()
        )


def page_text(response) -> str:
    return response.get_data(as_text=True)
