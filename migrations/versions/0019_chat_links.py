"""Chats: links of a Telegram or LINE chat to a customer or a staff member, the one-time
tokens that make them, the updates already handled, and each chat's dialogue state.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "chat_links",
        sa.Column("id", Id, primary_key=True),
        sa.Column("platform", sa.String(20), nullable=False),
        sa.Column("chat_id", sa.String(64), nullable=False),
        sa.Column("customer_id", Id, sa.ForeignKey("customers.id"), nullable=True),
        sa.Column("staff_id", Id, sa.ForeignKey("staff_users.id"), nullable=True),
        sa.Column("language", sa.String(10), nullable=False),
        sa.Column("linked_by", sa.String(20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=False), nullable=False),
        sa.UniqueConstraint("platform", "chat_id", name="uq_chat_links_platform_chat_id"),
    )
    op.create_index("ix_chat_links_customer_id", "chat_links", ["customer_id"])
    op.create_index("ix_chat_links_staff_id", "chat_links", ["staff_id"])
    op.create_table(
        "chat_link_tokens",
        sa.Column("id", Id, primary_key=True),
        sa.Column("platform", sa.String(20), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("customer_id", Id, sa.ForeignKey("customers.id"), nullable=True),
        sa.Column("staff_id", Id, sa.ForeignKey("staff_users.id"), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=False), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=False), nullable=True),
        sa.Column("created_by", sa.String(100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=False), nullable=False),
        sa.UniqueConstraint("token_hash", name="uq_chat_link_tokens_token_hash"),
    )
    op.create_table(
        "chat_updates",
        sa.Column("id", Id, primary_key=True),
        sa.Column("platform", sa.String(20), nullable=False),
        sa.Column("update_key", sa.String(100), nullable=False),
        sa.Column("chat_id", sa.String(64), nullable=False),
        sa.Column("handled_at", sa.DateTime(timezone=False), nullable=False),
        sa.UniqueConstraint("platform", "update_key", name="uq_chat_updates_platform_update_key"),
    )
    op.create_index(
        "ix_chat_updates_platform_chat_id_handled_at",
        "chat_updates",
        ["platform", "chat_id", "handled_at"],
    )
    op.create_index("ix_chat_updates_handled_at", "chat_updates", ["handled_at"])
    op.create_table(
        "chat_states",
        sa.Column("id", Id, primary_key=True),
        sa.Column("platform", sa.String(20), nullable=False),
        sa.Column("chat_id", sa.String(64), nullable=False),
        sa.Column("step", sa.String(30), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=False), nullable=False),
        sa.Column("slowed_at", sa.DateTime(timezone=False), nullable=True),
        sa.UniqueConstraint("platform", "chat_id", name="uq_chat_states_platform_chat_id"),
    )


def downgrade() -> None:
    op.drop_table("chat_states")
    # Dropping a table drops its indexes (MariaDB refuses to drop one a foreign key uses).
    op.drop_table("chat_updates")
    op.drop_table("chat_link_tokens")
    op.drop_table("chat_links")
