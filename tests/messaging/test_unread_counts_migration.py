"""Revision 0015 counts, for the conversations already there, what each side has not read."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from tests.databases import create_database, drop_database, selected_backends
from wallet.db import Database
from wallet.migrate import upgrade

_MESSAGE = (
    "INSERT INTO conversation_messages (id, conversation_id, author_kind, channel, text, "
    "created_at) VALUES (:id, 1, :kind, 'portal', 'hi', '2026-12-01 10:00:00')"
)


@pytest.mark.parametrize("backend", selected_backends())
def test_existing_conversations_get_their_unread_counts(backend, tmp_path):
    url = create_database(backend, tmp_path, "unread")
    try:
        upgrade(url, "0014")
        database = Database(url)
        try:
            with database.transaction() as session:
                session.execute(
                    text(
                        "INSERT INTO conversations (id, contact_key, contact_label, topic, "
                        "status, channel, customer_read_message_id, staff_read_message_id, "
                        "created_at, last_message_at) VALUES (1, 'line:U1', '', 'other', "
                        "'open', 'line', 1, 2, '2026-12-01 10:00:00', '2026-12-01 10:00:00')"
                    )
                )
                # The customer read up to 1 (the staff's 2 is new to them), the staff up
                # to 2 (the customer's 3 and 4 are new to the staff).
                for message_id, kind in (
                    (1, "customer"),
                    (2, "staff"),
                    (3, "customer"),
                    (4, "customer"),
                ):
                    session.execute(text(_MESSAGE), {"id": message_id, "kind": kind})
            upgrade(url)
            with database.transaction() as session:
                counts = session.execute(
                    text("SELECT customer_unread, staff_unread FROM conversations WHERE id = 1")
                ).one()
            assert tuple(counts) == (1, 2)
        finally:
            database.dispose()
    finally:
        drop_database(url)
