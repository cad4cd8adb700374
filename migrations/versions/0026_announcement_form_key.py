"""An announcement's form key: posting one now pushes it to thousands of chats, so a form
submitted twice (a double click, a reload) must make one announcement, as a broadcast's
form does. One nullable unique column; the announcements already there have none.

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0026"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("announcements") as batch:
        batch.add_column(sa.Column("form_key", sa.String(64), nullable=True))
        batch.create_unique_constraint("uq_announcements_form_key", ["form_key"])


def downgrade() -> None:
    with op.batch_alter_table("announcements") as batch:
        batch.drop_constraint("uq_announcements_form_key", type_="unique")
        batch.drop_column("form_key")
