"""Sign-in throttling per (name, address) and per address, and server-side web sessions,
for staff and customers (a realm column keeps them apart). They replace the per-name
lockout (staff_sign_in_failures) and the staff's session version.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "sign_in_throttles",
        sa.Column("id", ID, nullable=False),
        sa.Column("realm", sa.String(20), nullable=False),
        sa.Column("scope", sa.String(10), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("address", sa.String(64), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_failure_at", sa.DateTime(), nullable=False),
        sa.Column("wait_until", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sign_in_throttles")),
        sa.UniqueConstraint(
            "realm", "scope", "name", "address", name="uq_sign_in_throttles_realm_scope_name"
        ),
    )
    op.create_table(
        "web_sessions",
        sa.Column("id", ID, nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("realm", sa.String(20), nullable=False),
        sa.Column("subject_id", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_web_sessions")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_web_sessions_token_hash")),
    )
    op.create_index("ix_web_sessions_realm_subject_id", "web_sessions", ["realm", "subject_id"])
    op.create_index("ix_web_sessions_expires_at", "web_sessions", ["expires_at"])
    op.drop_table("staff_sign_in_failures")
    # Sessions signed in with the old cookies end here: they carried the session version.
    with op.batch_alter_table("staff_users") as batch:
        batch.drop_column("session_version")


def downgrade() -> None:
    with op.batch_alter_table("staff_users") as batch:
        batch.add_column(
            sa.Column("session_version", sa.Integer(), nullable=False, server_default="1")
        )
    op.create_table(
        "staff_sign_in_failures",
        sa.Column("id", ID, nullable=False),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("window_start", sa.DateTime(), nullable=False),
        sa.Column("locked_until", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_sign_in_failures")),
        sa.UniqueConstraint("subject", name=op.f("uq_staff_sign_in_failures_subject")),
    )
    op.drop_index("ix_web_sessions_expires_at", table_name="web_sessions")
    op.drop_index("ix_web_sessions_realm_subject_id", table_name="web_sessions")
    op.drop_table("web_sessions")
    op.drop_table("sign_in_throttles")
