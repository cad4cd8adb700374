"""Outbox deliveries: one row per notice and chat, claimed with a lease before it is sent;
the notice's kind and when it was routed to its chats; customers' notification settings.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("kind", sa.String(40), nullable=False, server_default=""))
        batch.add_column(sa.Column("routed_at", sa.DateTime(timezone=False), nullable=True))
        batch.create_index("ix_outbox_recipient_id", ["recipient", "id"])
    op.create_table(
        "outbox_deliveries",
        sa.Column("id", Id, primary_key=True),
        sa.Column("notice_id", Id, sa.ForeignKey("outbox.id"), nullable=False),
        sa.Column("platform", sa.String(20), nullable=False),
        sa.Column("chat_id", sa.String(64), nullable=False),
        sa.Column("language", sa.String(10), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=False), nullable=False),
        sa.Column("claim", sa.String(40), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=False), nullable=True),
        sa.Column("platform_message_id", sa.String(64), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=False), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=False), nullable=True),
        sa.UniqueConstraint(
            "notice_id", "platform", "chat_id", name="uq_outbox_deliveries_notice_platform_chat"
        ),
    )
    op.create_index(
        "ix_outbox_deliveries_status_next_attempt_at",
        "outbox_deliveries",
        ["status", "next_attempt_at"],
    )
    op.create_table(
        "notification_settings",
        sa.Column("id", Id, primary_key=True),
        sa.Column("customer_id", Id, sa.ForeignKey("customers.id"), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=False), nullable=False),
        sa.UniqueConstraint("customer_id", "kind", name="uq_notification_settings_customer_kind"),
    )


def downgrade() -> None:
    op.drop_table("notification_settings")
    op.drop_index("ix_outbox_deliveries_status_next_attempt_at", table_name="outbox_deliveries")
    op.drop_table("outbox_deliveries")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_index("ix_outbox_recipient_id")
        batch.drop_column("routed_at")
        batch.drop_column("kind")
