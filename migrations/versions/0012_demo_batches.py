"""Demo data listed as the demo's, so that it can be removed whole (issue 16).

A database where `pulsa demo` ran before this revision gets a batch listing the
customers whose opening balance the demo credited (ledger keys `demo-opening-...`); the
tariff plan it then wrote cannot be told apart from the operator's and is not listed.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    batches = op.create_table(
        "demo_batches",
        sa.Column("id", ID, nullable=False),
        sa.Column("loaded_at", sa.DateTime(), nullable=False),
        sa.Column("loaded_by", sa.String(60), nullable=False),
        sa.Column("removed_at", sa.DateTime(), nullable=True),
        sa.Column("removed_by", sa.String(60), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_demo_batches")),
    )
    rows = op.create_table(
        "demo_rows",
        sa.Column("id", ID, nullable=False),
        sa.Column("batch_id", ID, nullable=False),
        sa.Column("table_name", sa.String(40), nullable=False),
        sa.Column("row_id", sa.BigInteger(), nullable=False),
        sa.Column("fingerprint", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["batch_id"], ["demo_batches.id"], name=op.f("fk_demo_rows_batch_id_demo_batches")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_demo_rows")),
        sa.UniqueConstraint("table_name", "row_id", name="uq_demo_rows_table_name_row_id"),
    )
    op.create_index(op.f("ix_demo_rows_batch_id"), "demo_rows", ["batch_id"])
    _list_earlier_demo(batches, rows)


def _list_earlier_demo(batches: sa.Table, rows: sa.Table) -> None:
    connection = op.get_bind()
    entries = sa.table("ledger_entries", sa.column("account_id"), sa.column("idempotency_key"))
    accounts = sa.table("accounts", sa.column("id"), sa.column("customer_id"))
    people = sa.table("customers", sa.column("id"), sa.column("created_at", sa.DateTime()))
    # The fingerprint wallet.demo keeps for a customer: when it was made.
    customers = sorted(
        {
            (int(customer_id), str(created_at))
            for customer_id, created_at in connection.execute(
                sa.select(people.c.id, people.c.created_at)
                .join(accounts, accounts.c.customer_id == people.c.id)
                .join(entries, entries.c.account_id == accounts.c.id)
                .where(entries.c.idempotency_key.like("demo-opening-%"))
            )
        }
    )
    if not customers:
        return
    now = datetime.now(UTC).replace(tzinfo=None)
    connection.execute(sa.insert(batches).values(loaded_at=now, loaded_by="demo"))
    batch_id = connection.execute(sa.select(sa.func.max(batches.c.id))).scalar_one()
    connection.execute(
        sa.insert(rows),
        [
            {"batch_id": batch_id, "table_name": "customers", "row_id": c, "fingerprint": f}
            for c, f in customers
        ],
    )


def downgrade() -> None:
    op.drop_table("demo_rows")  # with its index (MariaDB keeps it for the foreign key)
    op.drop_table("demo_batches")
