"""Conversations: unread messages per side kept beside the read markers, so that the unread
count on every admin and portal page adds up a few conversations instead of counting
messages.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("conversations") as batch:
        batch.add_column(
            sa.Column("customer_unread", sa.Integer(), server_default="0", nullable=False)
        )
        batch.add_column(
            sa.Column("staff_unread", sa.Integer(), server_default="0", nullable=False)
        )
    # Conversations already there: count what each side has not read yet.
    op.execute(
        "UPDATE conversations SET "
        "customer_unread = (SELECT count(*) FROM conversation_messages m "
        "WHERE m.conversation_id = conversations.id AND m.author_kind <> 'customer' "
        "AND m.id > conversations.customer_read_message_id), "
        "staff_unread = (SELECT count(*) FROM conversation_messages m "
        "WHERE m.conversation_id = conversations.id AND m.author_kind = 'customer' "
        "AND m.id > conversations.staff_read_message_id)"
    )
    op.create_index("ix_conversations_staff_unread", "conversations", ["staff_unread"])


def downgrade() -> None:
    op.drop_index("ix_conversations_staff_unread", table_name="conversations")
    with op.batch_alter_table("conversations") as batch:
        batch.drop_column("staff_unread")
        batch.drop_column("customer_unread")
