"""Tenancy: tenants (soft-deleted, never removed) and their API keys (only HMACs of the secrets are stored).

Revision ID: 0001_tenancy
Revises: (none)
The tables are ``maas.metering.tables.Tenant`` / ``ApiKey``; this file is hand-written and must match them
(tests/unit/test_store.py compares the migrated schema with the table classes on both backends).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_tenancy"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tenants",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("contact", sa.String(256), nullable=True),
        sa.Column("default_site", sa.String(64), nullable=True),
        sa.Column("default_objective", sa.String(16), nullable=True),
        sa.Column("default_deadline_ms", sa.Float(), nullable=True),
        sa.Column("allowed_models", sa.JSON(), nullable=True),
        sa.Column("allowed_tiers", sa.JSON(), nullable=True),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("rpm", sa.Integer(), nullable=True),
        sa.Column("burst", sa.Integer(), nullable=True),
        sa.Column("requests_per_day", sa.BigInteger(), nullable=True),
        sa.Column("requests_per_month", sa.BigInteger(), nullable=True),
        sa.Column("max_concurrent", sa.Integer(), nullable=True),
        sa.Column("energy_j_per_day", sa.Float(), nullable=True),
        sa.Column("carbon_g_per_month", sa.Float(), nullable=True),
        sa.Column("created_at_s", sa.Float(), nullable=False),
        sa.Column("updated_at_s", sa.Float(), nullable=False),
        sa.Column("deleted_at_s", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tenants")),
        sa.UniqueConstraint("name", name=op.f("uq_tenants_name")),
        sa.CheckConstraint("priority BETWEEN 0 AND 9", name=op.f("ck_tenants_priority_range")),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key_id", sa.String(16), nullable=False),
        sa.Column("scope", sa.String(8), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=True),
        sa.Column("label", sa.String(64), nullable=True),
        sa.Column("secret_hmac", sa.String(64), nullable=False),
        sa.Column("previous_secret_hmac", sa.String(64), nullable=True),
        sa.Column("previous_valid_until_s", sa.Float(), nullable=True),
        sa.Column("created_at_s", sa.Float(), nullable=False),
        sa.Column("expires_at_s", sa.Float(), nullable=True),
        sa.Column("rotated_at_s", sa.Float(), nullable=True),
        sa.Column("revoked_at_s", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("key_id", name=op.f("uq_api_keys_key_id")),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_api_keys_tenant_id_tenants"), ondelete="RESTRICT"
        ),
        sa.CheckConstraint(
            "(scope = 'admin' AND tenant_id IS NULL) OR (scope = 'tenant' AND tenant_id IS NOT NULL)",
            name=op.f("ck_api_keys_scope_owner"),
        ),
    )
    op.create_index(op.f("ix_api_keys_tenant_id"), "api_keys", ["tenant_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_api_keys_tenant_id"), table_name="api_keys")
    op.drop_table("api_keys")
    op.drop_table("tenants")
