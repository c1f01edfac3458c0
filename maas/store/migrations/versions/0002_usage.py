"""Usage: one row per metered request, ingested from the usage journal (``maas.metering.usage_tables.UsageRow``).

Revision ID: 0002_usage
Revises: 0001_tenancy
Hand-written; must match ``UsageRow`` (tests/unit/test_metering_usage.py compares them on both backends).
No foreign keys to tenants or keys: usage outlives them.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_usage"
down_revision = "0001_tenancy"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "usage_records",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("request_id", sa.String(64), nullable=False),
        sa.Column("time_s", sa.Float(), nullable=False),
        sa.Column("day", sa.String(10), nullable=False),
        sa.Column("month", sa.String(7), nullable=False),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("key_id", sa.String(16), nullable=True),
        sa.Column("model", sa.String(128), nullable=False),
        sa.Column("version", sa.String(64), nullable=True),
        sa.Column("tier", sa.String(64), nullable=True),
        sa.Column("site", sa.String(64), nullable=True),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(32), nullable=True),
        sa.Column("latency_ms", sa.Float(), nullable=True),
        sa.Column("uplink_ms", sa.Float(), nullable=True),
        sa.Column("queue_ms", sa.Float(), nullable=True),
        sa.Column("compute_ms", sa.Float(), nullable=True),
        sa.Column("downlink_ms", sa.Float(), nullable=True),
        sa.Column("platform_ms", sa.Float(), nullable=True),
        sa.Column("energy_j", sa.Float(), nullable=False),
        sa.Column("carbon_g", sa.Float(), nullable=False),
        sa.Column("deadline_met", sa.Boolean(), nullable=True),
        sa.Column("bytes_in", sa.BigInteger(), nullable=False),
        sa.Column("bytes_out", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_usage_records")),
        sa.UniqueConstraint("request_id", name=op.f("uq_usage_records_request_id")),
    )
    op.create_index("ix_usage_records_tenant_day", "usage_records", ["tenant", "day"])
    op.create_index("ix_usage_records_day", "usage_records", ["day"])


def downgrade() -> None:
    op.drop_index("ix_usage_records_day", table_name="usage_records")
    op.drop_index("ix_usage_records_tenant_day", table_name="usage_records")
    op.drop_table("usage_records")
