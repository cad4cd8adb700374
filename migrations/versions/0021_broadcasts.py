"""Broadcasts: a message sent once to customers' linked chats, and the chats it went to
(each with the key of its outbox notice, whose status is the broadcast's progress).

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "broadcasts",
        sa.Column("id", Id, primary_key=True),
        sa.Column("form_key", sa.String(64), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("audience", sa.String(10), nullable=False),
        sa.Column("package_id", Id, sa.ForeignKey("internet_packages.id"), nullable=True),
        sa.Column("router_id", Id, sa.ForeignKey("routers.id"), nullable=True),
        sa.Column("recipients", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(60), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=False), nullable=False),
        sa.UniqueConstraint("form_key", name="uq_broadcasts_form_key"),
    )
    op.create_index("ix_broadcasts_created_at", "broadcasts", ["created_at"])
    op.create_table(
        "broadcast_recipients",
        sa.Column("id", Id, primary_key=True),
        sa.Column("broadcast_id", Id, sa.ForeignKey("broadcasts.id"), nullable=False),
        sa.Column("customer_id", Id, sa.ForeignKey("customers.id"), nullable=False),
        sa.Column("platform", sa.String(20), nullable=False),
        sa.Column("chat_id", sa.String(64), nullable=False),
        sa.Column("notice_key", sa.String(160), nullable=False),
        sa.UniqueConstraint(
            "broadcast_id", "platform", "chat_id", name="uq_broadcast_recipients_chat"
        ),
        sa.UniqueConstraint("notice_key", name="uq_broadcast_recipients_notice_key"),
    )


def downgrade() -> None:
    op.drop_table("broadcast_recipients")
    op.drop_index("ix_broadcasts_created_at", table_name="broadcasts")
    op.drop_table("broadcasts")
