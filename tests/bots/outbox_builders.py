"""Builders for the delivery tests: a database of the module's own (the worker sends
every pending notice it finds, so the shared database's notices would get in the way),
customers with linked chats, notices."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator

import pytest
from sqlalchemy import delete, select

from messaging.chats import issue_link_token, redeem_link_token
from messaging.models import Delivery, Notice
from messaging.outbox import ALL_CHATS, enqueue_notice
from tests.conftest import make_account
from tests.databases import create_database, drop_database, selected_backends
from wallet.db import Database
from wallet.migrate import upgrade
from wallet.models import Account

_chat_ids = itertools.count(5_000_001)


@pytest.fixture(scope="module", params=selected_backends())
def outbox_db(request, tmp_path_factory) -> Iterator[Database]:
    url = create_database(request.param, tmp_path_factory.mktemp("outbox"), label="outbox")
    try:
        upgrade(url)
        database = Database(url)
        yield database
        database.dispose()
    finally:
        drop_database(url)


@pytest.fixture
def clean_outbox(outbox_db: Database) -> Database:
    """The module's database with an empty outbox."""

    def empty(session):
        session.execute(delete(Delivery))
        session.execute(delete(Notice))

    outbox_db.run(empty)
    return outbox_db


def linked_customer(db: Database, *, chats: int = 1, language: str = "en") -> tuple[int, list[int]]:
    """A customer with `chats` Telegram chats linked; (customer id, chat ids)."""
    account_id = make_account(db, name="Chat Customer")
    customer_id = db.run(lambda s: s.get(Account, account_id).customer_id)
    chat_ids = []
    for _ in range(chats):
        chat_id = next(_chat_ids)

        def link(session, chat_id=chat_id):
            token, _ = issue_link_token(session, "telegram", actor="test", customer_id=customer_id)
            redeem_link_token(session, "telegram", str(chat_id), token, language=language)

        db.run(link)
        chat_ids.append(chat_id)
    return customer_id, chat_ids


def enqueue_texts(db: Database, customer_id: int, texts: list[str]) -> list[str]:
    """Notices with a plain text to every chat of the customer; their keys."""
    keys = [f"test-text:{customer_id}:{index}:{text}" for index, text in enumerate(texts)]

    def work(session):
        for key, text in zip(keys, texts, strict=True):
            enqueue_notice(
                session,
                key,
                f"customer:{customer_id}",
                ALL_CHATS,
                {"text": text},
                actor="test",
                kind="announcement",
            )

    db.run(work)
    return keys


def statuses(db: Database, keys: list[str]) -> dict[str, str]:
    with db.transaction() as session:
        rows = session.execute(select(Notice.key, Notice.status).where(Notice.key.in_(keys)))
        return dict(rows.all())


def deliveries_of(db: Database, key: str) -> list[Delivery]:
    with db.transaction() as session:
        return list(
            session.execute(
                select(Delivery)
                .join(Notice, Notice.id == Delivery.notice_id)
                .where(Notice.key == key)
            ).scalars()
        )


def run(coroutine):
    return asyncio.run(coroutine)
