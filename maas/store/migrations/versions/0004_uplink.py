"""Uplink transfers of model versions to the satellite tier (progress that survives a restart).

Revision ID: 0004_uplink
Revises: 0003_registry
The table is ``maas.registry.uplink_tables.UplinkTransfer``; this file is hand-written and must match it
(tests/unit/test_uplink_tracker.py compares the migrated schema with it).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_uplink"
down_revision = "0003_registry"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "uplink_transfers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("model", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("tier", sa.String(32), nullable=False),
        sa.Column("station", sa.String(64), nullable=False),
        sa.Column("artifact_sha256", sa.String(64), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("rate_bps", sa.Float(), nullable=False),
        sa.Column("setup_s", sa.Float(), nullable=False),
        sa.Column("time_scale", sa.Float(), nullable=False),
        sa.Column("origin_s", sa.Float(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("segment_start_s", sa.Float(), nullable=False),
        sa.Column("segment_bytes0", sa.BigInteger(), nullable=False),
        sa.Column("bytes_sent", sa.BigInteger(), nullable=False),
        sa.Column("progress_at_s", sa.Float(), nullable=False),
        sa.Column("windows", sa.JSON(), nullable=False),
        sa.Column("completed_at_s", sa.Float(), nullable=True),
        sa.Column("message", sa.String(512), nullable=True),
        sa.Column("created_at_s", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_uplink_transfers")),
        sa.UniqueConstraint("model", "version", "tier", name=op.f("uq_uplink_transfers_model_version_tier")),
        sa.CheckConstraint("state IN ('uplinking', 'ready', 'refused')", name=op.f("ck_uplink_transfers_state_known")),
        sa.CheckConstraint(
            "bytes_sent >= 0 AND bytes_sent <= size_bytes", name=op.f("ck_uplink_transfers_bytes_in_range")
        ),
    )
    op.create_index(op.f("ix_uplink_transfers_model"), "uplink_transfers", ["model"])


def downgrade() -> None:
    op.drop_index(op.f("ix_uplink_transfers_model"), table_name="uplink_transfers")
    op.drop_table("uplink_transfers")
