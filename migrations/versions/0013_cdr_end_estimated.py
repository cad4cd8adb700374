"""CDRs: whether the end of the call was estimated (it ended while no listener followed
it), shown in the admin's Calls screen and exports.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("call_records") as batch:
        batch.add_column(
            sa.Column("end_estimated", sa.Boolean(), server_default="0", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("call_records") as batch:
        batch.drop_column("end_estimated")
