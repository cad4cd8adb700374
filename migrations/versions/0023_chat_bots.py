"""Chats: the bots' names on their platforms (Telegram's @username from getMe), for the
portal's "Connect Telegram" link.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "chat_bots",
        sa.Column("platform", sa.String(20), primary_key=True),
        sa.Column("username", sa.String(100), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=False), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("chat_bots")
