"""Tariffs and calls: rates, time bands, holidays, SIP identities, call records.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _plan_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["plan_id"], ["tariff_plans.id"], name=op.f(f"fk_{table}_plan_id_tariff_plans")
    )


def upgrade() -> None:
    op.create_table(
        "rates",
        sa.Column("id", ID, nullable=False),
        sa.Column("plan_id", ID, nullable=False),
        sa.Column("prefix", sa.String(20), nullable=False),
        sa.Column("band", sa.String(40), nullable=False),
        sa.Column("description", sa.String(200), nullable=False),
        sa.Column("connection_fee", sa.BigInteger(), nullable=False),
        sa.Column("price_per_minute", sa.BigInteger(), nullable=False),
        sa.Column("initial_block", sa.Integer(), nullable=False),
        sa.Column("increment", sa.Integer(), nullable=False),
        sa.Column("minimum_duration", sa.Integer(), nullable=False),
        sa.Column("grace", sa.Integer(), nullable=False),
        sa.Column("max_duration", sa.Integer(), nullable=True),
        _plan_fk("rates"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rates")),
        sa.UniqueConstraint("plan_id", "prefix", "band", name="uq_rates_plan_id_prefix_band"),
    )
    op.create_table(
        "time_bands",
        sa.Column("id", ID, nullable=False),
        sa.Column("plan_id", ID, nullable=False),
        sa.Column("name", sa.String(40), nullable=False),
        sa.Column("days", sa.String(40), nullable=False),
        sa.Column("start_seconds", sa.Integer(), nullable=False),
        sa.Column("end_seconds", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        _plan_fk("time_bands"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_time_bands")),
        sa.UniqueConstraint("plan_id", "name", name="uq_time_bands_plan_id_name"),
    )
    op.create_table(
        "holidays",
        sa.Column("id", ID, nullable=False),
        sa.Column("plan_id", ID, nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("band", sa.String(40), nullable=False),
        sa.Column("name", sa.String(100), nullable=True),
        _plan_fk("holidays"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_holidays")),
        sa.UniqueConstraint("plan_id", "day", name="uq_holidays_plan_id_day"),
    )
    op.create_table(
        "sip_identities",
        sa.Column("id", ID, nullable=False),
        sa.Column("account_id", ID, nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("value", sa.String(80), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_sip_identities_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sip_identities")),
        sa.UniqueConstraint("kind", "value", name="uq_sip_identities_kind_value"),
    )
    op.create_index(op.f("ix_sip_identities_account_id"), "sip_identities", ["account_id"])
    op.create_table(
        "call_records",
        sa.Column("id", ID, nullable=False),
        sa.Column("account_id", ID, nullable=True),
        sa.Column("hold_id", ID, nullable=True),
        sa.Column("asterisk_server", sa.String(80), nullable=False),
        sa.Column("uniqueid", sa.String(64), nullable=False),
        sa.Column("linkedid", sa.String(64), nullable=True),
        sa.Column("channel", sa.String(200), nullable=True),
        sa.Column("dst_channel", sa.String(200), nullable=True),
        sa.Column("caller", sa.String(80), nullable=False),
        sa.Column("caller_name", sa.String(200), nullable=True),
        sa.Column("callee", sa.String(80), nullable=False),
        sa.Column("destination_prefix", sa.String(20), nullable=True),
        sa.Column("rate_description", sa.String(200), nullable=True),
        sa.Column("rate_band", sa.String(40), nullable=True),
        sa.Column("price_per_minute", sa.BigInteger(), nullable=True),
        sa.Column("start_at", sa.DateTime(), nullable=False),
        sa.Column("answer_at", sa.DateTime(), nullable=True),
        sa.Column("end_at", sa.DateTime(), nullable=True),
        sa.Column("duration", sa.Integer(), nullable=False),
        sa.Column("billsec", sa.Integer(), nullable=False),
        sa.Column("charged_seconds", sa.Integer(), nullable=False),
        sa.Column("cost", sa.BigInteger(), nullable=False),
        sa.Column("disposition", sa.String(20), nullable=False),
        sa.Column("source", sa.String(20), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_call_records_account_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["hold_id"], ["holds.id"], name=op.f("fk_call_records_hold_id_holds")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_call_records")),
        sa.UniqueConstraint("asterisk_server", "uniqueid", name="uq_call_records_server_uniqueid"),
        sa.UniqueConstraint("hold_id", name=op.f("uq_call_records_hold_id")),
    )
    op.create_index(
        "ix_call_records_account_id_start_at", "call_records", ["account_id", "start_at"]
    )
    op.create_index(op.f("ix_call_records_linkedid"), "call_records", ["linkedid"])


def downgrade() -> None:
    op.drop_table("call_records")
    op.drop_table("sip_identities")
    op.drop_table("holidays")
    op.drop_table("time_bands")
    op.drop_table("rates")
