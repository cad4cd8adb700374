"""What the routers counted for each subscription (online time, data) and when it was
read, per router: the customer's home page shows used and left from it. A new table;
nothing already there changes.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "subscription_usage",
        sa.Column("subscription_id", ID, nullable=False),
        sa.Column("router_id", ID, nullable=False),
        sa.Column("uptime_seconds", sa.Integer(), nullable=False),
        sa.Column("bytes_total", sa.BigInteger(), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=False), nullable=False),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["internet_subscriptions.id"],
            name=op.f("fk_subscription_usage_subscription_id_internet_subscriptions"),
        ),
        sa.ForeignKeyConstraint(
            ["router_id"], ["routers.id"], name=op.f("fk_subscription_usage_router_id_routers")
        ),
        sa.PrimaryKeyConstraint("subscription_id", "router_id", name=op.f("pk_subscription_usage")),
    )


def downgrade() -> None:
    op.drop_table("subscription_usage")
