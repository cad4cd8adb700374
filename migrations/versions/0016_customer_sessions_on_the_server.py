"""Customer portal: sessions kept on the server (web_sessions, realm customer) replace the
session version of a customer's credentials.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("customer_credentials") as batch:
        batch.drop_column("session_version")


def downgrade() -> None:
    with op.batch_alter_table("customer_credentials") as batch:
        batch.add_column(
            sa.Column("session_version", sa.Integer(), nullable=False, server_default="1")
        )
