"""Builders for the hotspot tests: customers with a login, packages, all uniquely named
so tests can share one database per backend."""

from __future__ import annotations

import itertools
import secrets

from sqlalchemy import select

from tests.conftest import make_account, unique_key
from wallet.db import Database
from wallet.internet import create_login, create_package
from wallet.models import Account

RUPIAH = 1_000_000  # micro-units in one currency unit


def new_name(label: str) -> str:
    return unique_key(label).replace("-", "")[:40]


def make_package(db: Database, price: int = 5_000 * RUPIAH, **options) -> int:
    options.setdefault("validity_value", 1)
    options.setdefault("validity_unit", "days")
    name = options.pop("name", None) or new_name("pkg")
    return db.run(lambda s: create_package(s, name, price=price, **options).id)


def make_login(
    db: Database, balance: int = 0, *, username: str | None = None, **options
) -> tuple[int, int]:
    """A customer whose wallet holds `balance`, with a hotspot login: (account, login)."""
    account_id = make_account(db, balance, name=options.pop("name", "Hotspot Customer"))

    def work(session):
        customer_id = session.get(Account, account_id).customer_id
        login = create_login(session, customer_id, username or new_name("user"), **options)
        return login.id

    return account_id, db.run(work)


def balance_of(db: Database, account_id: int) -> int:
    return db.run(
        lambda s: s.execute(select(Account.balance).where(Account.id == account_id)).scalar_one()
    )


_prefixes = itertools.count(1)


def unique_prefix(letter: str = "P") -> str:
    """A voucher prefix no other test uses, ending in a letter so the codes after it
    cannot run into another prefix's."""
    return f"{letter}{next(_prefixes)}{secrets.token_hex(2)}x"
