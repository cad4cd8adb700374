"""Named locks: a row per name locked for the rest of a transaction (the portal's
registration limits check and record as one step).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "named_locks",
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_named_locks")),
    )


def downgrade() -> None:
    op.drop_table("named_locks")
