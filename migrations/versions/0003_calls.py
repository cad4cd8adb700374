"""Calls: the live state of each authorized call, and tariff plan revisions.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("tariff_plans") as batch:
        batch.add_column(sa.Column("revision", sa.Integer(), server_default="1", nullable=False))
    op.create_table(
        "calls",
        sa.Column("id", ID, nullable=False),
        sa.Column("account_id", ID, nullable=False),
        sa.Column("hold_id", ID, nullable=True),
        sa.Column("asterisk_server", sa.String(80), nullable=False),
        sa.Column("uniqueid", sa.String(64), nullable=False),
        sa.Column("linkedid", sa.String(64), nullable=True),
        sa.Column("channel", sa.String(200), nullable=False),
        sa.Column("caller", sa.String(80), nullable=False),
        sa.Column("dialled", sa.String(40), nullable=False),
        sa.Column("plan_id", ID, nullable=True),
        sa.Column("rate_prefix", sa.String(20), nullable=True),
        sa.Column("mode", sa.String(10), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("paid_ms", sa.BigInteger(), nullable=False),
        sa.Column("debit_sequence", sa.Integer(), nullable=False),
        sa.Column("authorized_at", sa.DateTime(), nullable=False),
        sa.Column("answered_at", sa.DateTime(), nullable=True),
        sa.Column("ended_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_calls_account_id_accounts")
        ),
        sa.ForeignKeyConstraint(["hold_id"], ["holds.id"], name=op.f("fk_calls_hold_id_holds")),
        sa.ForeignKeyConstraint(
            ["plan_id"], ["tariff_plans.id"], name=op.f("fk_calls_plan_id_tariff_plans")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_calls")),
        sa.UniqueConstraint("hold_id", name=op.f("uq_calls_hold_id")),
    )
    op.create_index("ix_calls_account_id_status", "calls", ["account_id", "status"])
    op.create_index(op.f("ix_calls_uniqueid"), "calls", ["uniqueid"])
    op.create_index(op.f("ix_calls_linkedid"), "calls", ["linkedid"])


def downgrade() -> None:
    op.drop_table("calls")
    with op.batch_alter_table("tariff_plans") as batch:
        batch.drop_column("revision")
