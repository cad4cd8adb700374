"""Builders for the messaging tests: customers, staff and their actors."""

from __future__ import annotations

from messaging.actors import Actor
from tests.conftest import make_account, unique_key
from wallet.db import Database
from wallet.models import Account
from wallet.staff import create_staff

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def make_customer(db: Database, name: str = "Messaging Customer") -> int:
    account_id = make_account(db, name=name)
    return db.run(lambda s: s.get(Account, account_id).customer_id)


def make_staff_actor(db: Database, **options) -> Actor:
    username = unique_key("agent").replace("-", "")[:40]
    staff_id = db.run(
        lambda s: create_staff(s, username, "correct horse battery", actor="test", **options).id
    )
    return Actor.staff(staff_id, username)
