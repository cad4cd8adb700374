"""Internet packages start when a router holds them (or at the first login): a
subscription may wait for its start (awaits_start), the first time a router held it is
kept (on_router_at), and a router remembers since when it has been unreachable.

What happens to the rows already there: every existing subscription keeps its dates and
counts as started (awaits_start false), since it was sold and shown with those dates; its
on_router_at is its provisioned_at (when every router of its package had taken it, the
closest fact known). A router whose last pass failed is unreachable since that pass
(last_sync_at): the first failure is not known, so the page says the latest one.
Nothing is charged or refunded.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("internet_subscriptions") as batch:
        batch.add_column(
            sa.Column("awaits_start", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(sa.Column("on_router_at", sa.DateTime(timezone=False), nullable=True))
    with op.batch_alter_table("routers") as batch:
        batch.add_column(sa.Column("unreachable_since", sa.DateTime(timezone=False), nullable=True))
    subscriptions = sa.table(
        "internet_subscriptions",
        sa.column("on_router_at", sa.DateTime()),
        sa.column("provisioned_at", sa.DateTime()),
    )
    op.execute(subscriptions.update().values(on_router_at=subscriptions.c.provisioned_at))
    routers = sa.table(
        "routers",
        sa.column("unreachable_since", sa.DateTime()),
        sa.column("last_sync_at", sa.DateTime()),
        sa.column("last_sync_ok", sa.Boolean()),
    )
    op.execute(
        routers.update()
        .where(routers.c.last_sync_ok.is_(False))
        .values(unreachable_since=routers.c.last_sync_at)
    )


def downgrade() -> None:
    with op.batch_alter_table("routers") as batch:
        batch.drop_column("unreachable_since")
    with op.batch_alter_table("internet_subscriptions") as batch:
        batch.drop_column("on_router_at")
        batch.drop_column("awaits_start")
