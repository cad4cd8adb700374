"""Builders for the bot tests: a customer with a wallet (and a hotspot login) whose
Telegram chat is linked, packages, vouchers, bank accounts."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from messaging.chats import issue_link_token
from tests.conftest import unique_key
from tests.hotspot.builders import RUPIAH, make_login, make_package
from wallet.db import Database
from wallet.models import Account
from wallet.payments import save_bank_account
from wallet.vouchers import batch_vouchers, generate_batch

__all__ = ["RUPIAH", "Linked", "a_bank_account", "a_voucher", "linked_customer", "make_package"]


@dataclass
class Linked:
    chat: object  # tests.bots.conftest.FakeChat
    account_id: int
    customer_id: int
    login_id: int


def link_token(db: Database, customer_id: int, platform: str = "telegram") -> str:
    return db.run(lambda s: issue_link_token(s, platform, actor="test", customer_id=customer_id)[0])


def linked_customer(db: Database, new_chat, balance: int = 0, **chat_options) -> Linked:
    """A customer with `balance` and a hotspot login, whose chat has sent /start <token>."""
    account_id, login_id = make_login(db, balance, name="Chat Customer", password="wifi1234")
    customer_id = db.run(lambda s: s.get(Account, account_id).customer_id)
    chat = new_chat(**chat_options)
    chat.send(f"/start {link_token(db, customer_id, chat.platform)}")
    return Linked(chat, account_id, customer_id, login_id)


def a_voucher(db: Database, price: int, package: int | None = None) -> str:
    """A credit voucher worth `price`, or (with `package`) a voucher for that package."""

    def work(session):
        batch = generate_batch(
            session, count=1, price=price, package=package, prefix=f"B{secrets.randbelow(999)}"
        )
        return batch_vouchers(session, batch.id)[0].code

    return db.run(work)


def a_bank_account(db: Database) -> str:
    number = unique_key("").replace("-", "")[-10:]
    db.run(
        lambda s: save_bank_account(
            s, actor="test", bank_name="BCA", account_number=number, holder_name="Operator"
        )
    )
    return number
