"""Internet: routers, packages, subscriptions, vouchers (issue 6).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _fk(table: str, column: str, target: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.id"], name=op.f(f"fk_{table}_{column}_{target}")
    )


def _uq(table: str, column: str) -> sa.UniqueConstraint:
    return sa.UniqueConstraint(column, name=op.f(f"uq_{table}_{column}"))


def upgrade() -> None:
    op.create_table(
        "routers",
        sa.Column("id", ID, nullable=False),
        sa.Column("name", sa.String(80), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("api_port", sa.Integer(), nullable=False),
        sa.Column("use_tls", sa.Boolean(), nullable=False),
        sa.Column("tls_verify", sa.Boolean(), nullable=False),
        sa.Column("username", sa.String(100), nullable=False),
        sa.Column("password_encrypted", sa.Text(), nullable=False),
        sa.Column("hotspot_server", sa.String(80), nullable=False),
        sa.Column("login_url", sa.String(255), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("last_sync_at", sa.DateTime(), nullable=True),
        sa.Column("last_sync_ok", sa.Boolean(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_contact_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_routers")),
        _uq("routers", "name"),
    )
    op.create_table(
        "internet_packages",
        sa.Column("id", ID, nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("profile_name", sa.String(64), nullable=False),
        sa.Column("description", sa.String(500), nullable=False),
        sa.Column("price", sa.BigInteger(), nullable=False),
        sa.Column("validity_value", sa.Integer(), nullable=False),
        sa.Column("validity_unit", sa.String(10), nullable=False),
        sa.Column("limit_uptime", sa.Integer(), nullable=True),
        sa.Column("limit_bytes_total", sa.BigInteger(), nullable=True),
        sa.Column("rate_limit", sa.String(120), nullable=True),
        sa.Column("shared_users", sa.Integer(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_internet_packages")),
        _uq("internet_packages", "name"),
        _uq("internet_packages", "profile_name"),
    )
    op.create_table(
        "internet_package_routers",
        sa.Column("package_id", ID, nullable=False),
        sa.Column("router_id", ID, nullable=False),
        _fk("internet_package_routers", "package_id", "internet_packages"),
        _fk("internet_package_routers", "router_id", "routers"),
        sa.PrimaryKeyConstraint(
            "package_id", "router_id", name=op.f("pk_internet_package_routers")
        ),
    )
    op.create_table(
        "hotspot_logins",
        sa.Column("id", ID, nullable=False),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("username_key", sa.String(160), nullable=False),
        sa.Column("password", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("customer_id", ID, nullable=True),
        sa.Column("package_id", ID, nullable=True),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        _fk("hotspot_logins", "customer_id", "customers"),
        _fk("hotspot_logins", "package_id", "internet_packages"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hotspot_logins")),
        _uq("hotspot_logins", "username_key"),
    )
    op.create_index(op.f("ix_hotspot_logins_customer_id"), "hotspot_logins", ["customer_id"])
    op.create_table(
        "voucher_batches",
        sa.Column("id", ID, nullable=False),
        sa.Column("package_id", ID, nullable=True),
        sa.Column("price", sa.BigInteger(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("code_length", sa.Integer(), nullable=False),
        sa.Column("alphabet", sa.String(10), nullable=False),
        sa.Column("separate_password", sa.Boolean(), nullable=False),
        sa.Column("note", sa.String(200), nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        _fk("voucher_batches", "package_id", "internet_packages"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_voucher_batches")),
    )
    op.create_table(
        "vouchers",
        sa.Column("id", ID, nullable=False),
        sa.Column("batch_id", ID, nullable=False),
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("password", sa.String(64), nullable=False),
        sa.Column("login_id", ID, nullable=True),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("sold_at", sa.DateTime(), nullable=True),
        sa.Column("sold_by", sa.String(100), nullable=True),
        sa.Column("sold_price", sa.BigInteger(), nullable=True),
        sa.Column("used_at", sa.DateTime(), nullable=True),
        sa.Column("redeemed_at", sa.DateTime(), nullable=True),
        sa.Column("redeemed_account_id", ID, nullable=True),
        _fk("vouchers", "batch_id", "voucher_batches"),
        _fk("vouchers", "login_id", "hotspot_logins"),
        _fk("vouchers", "redeemed_account_id", "accounts"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vouchers")),
        _uq("vouchers", "code"),
        _uq("vouchers", "login_id"),
    )
    op.create_index("ix_vouchers_batch_id_status", "vouchers", ["batch_id", "status"])
    op.create_table(
        "internet_subscriptions",
        sa.Column("id", ID, nullable=False),
        sa.Column("login_id", ID, nullable=False),
        sa.Column("package_id", ID, nullable=False),
        sa.Column("account_id", ID, nullable=True),
        sa.Column("voucher_id", ID, nullable=True),
        sa.Column("ledger_entry_id", ID, nullable=True),
        sa.Column("purchase_key", sa.String(160), nullable=False),
        sa.Column("price", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("starts_at", sa.DateTime(), nullable=False),
        sa.Column("ends_at", sa.DateTime(), nullable=False),
        sa.Column("limit_uptime", sa.Integer(), nullable=True),
        sa.Column("limit_bytes_total", sa.BigInteger(), nullable=True),
        sa.Column("auto_renew", sa.Boolean(), nullable=False),
        sa.Column("renewed_from_id", ID, nullable=True),
        sa.Column("provisioned_at", sa.DateTime(), nullable=True),
        sa.Column("expired_at", sa.DateTime(), nullable=True),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        _fk("internet_subscriptions", "login_id", "hotspot_logins"),
        _fk("internet_subscriptions", "package_id", "internet_packages"),
        _fk("internet_subscriptions", "account_id", "accounts"),
        _fk("internet_subscriptions", "voucher_id", "vouchers"),
        _fk("internet_subscriptions", "ledger_entry_id", "ledger_entries"),
        _fk("internet_subscriptions", "renewed_from_id", "internet_subscriptions"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_internet_subscriptions")),
        _uq("internet_subscriptions", "purchase_key"),
        _uq("internet_subscriptions", "voucher_id"),
        _uq("internet_subscriptions", "renewed_from_id"),
    )
    op.create_index(
        "ix_internet_subscriptions_login_id_ends_at",
        "internet_subscriptions",
        ["login_id", "ends_at"],
    )
    op.create_index(
        "ix_internet_subscriptions_status_ends_at", "internet_subscriptions", ["status", "ends_at"]
    )
    op.create_index(
        op.f("ix_internet_subscriptions_account_id"), "internet_subscriptions", ["account_id"]
    )
    op.create_table(
        "internet_extensions",
        sa.Column("id", ID, nullable=False),
        sa.Column("subscription_id", ID, nullable=False),
        sa.Column("days", sa.Integer(), nullable=False),
        sa.Column("price", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.String(200), nullable=False),
        sa.Column("extension_key", sa.String(160), nullable=False),
        sa.Column("ledger_entry_id", ID, nullable=True),
        sa.Column("old_ends_at", sa.DateTime(), nullable=False),
        sa.Column("new_ends_at", sa.DateTime(), nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        _fk("internet_extensions", "subscription_id", "internet_subscriptions"),
        _fk("internet_extensions", "ledger_entry_id", "ledger_entries"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_internet_extensions")),
        _uq("internet_extensions", "extension_key"),
    )
    op.create_index(
        op.f("ix_internet_extensions_subscription_id"), "internet_extensions", ["subscription_id"]
    )


def downgrade() -> None:
    for table in (
        "internet_extensions",
        "internet_subscriptions",
        "vouchers",
        "voucher_batches",
        "hotspot_logins",
        "internet_package_routers",
        "internet_packages",
        "routers",
    ):
        op.drop_table(table)
