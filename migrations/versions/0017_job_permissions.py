"""Staff roles: the jobs granted apart from screens (issue 16).

Top up, adjust, transfer and change credit limits were all part of "change" on the
customers screen, and the revenue on the dashboard went with the dashboard. Each is now a
permission of its own; every existing role keeps what it could do: a role that could
change customers gets the four money jobs, one that could see the dashboard or the
reports gets "revenue".

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MONEY_JOBS = ("top_up", "adjust", "transfer", "credit_limit")
JOBS = (*MONEY_JOBS, "revenue")

permissions = sa.table(
    "staff_role_permissions",
    sa.column("role_id", sa.BigInteger()),
    sa.column("screen", sa.String(40)),
    sa.column("level", sa.String(10)),
)


def upgrade() -> None:
    connection = op.get_bind()
    grants: dict[int, dict[str, str]] = {}
    for role_id, screen, level in connection.execute(
        sa.select(permissions.c.role_id, permissions.c.screen, permissions.c.level)
    ):
        grants.setdefault(int(role_id), {})[screen] = level
    rows = []
    for role_id, granted in sorted(grants.items()):
        jobs = []
        if granted.get("customers") == "change":
            jobs.extend(MONEY_JOBS)
        if "dashboard" in granted or "reports" in granted:
            jobs.append("revenue")
        rows.extend(
            {"role_id": role_id, "screen": job, "level": "change"}
            for job in jobs
            if job not in granted
        )
    if rows:
        connection.execute(sa.insert(permissions), rows)


def downgrade() -> None:
    op.get_bind().execute(sa.delete(permissions).where(permissions.c.screen.in_(JOBS)))
