"""Rehearsed faults: ``maas tiers fail`` / ``restore``, read by every gateway replica.

Revision ID: 0006_tier_faults
Revises: 0005_rollouts
The table is ``maas.store.fault_table.TierFault``; this file is hand-written and must match it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_tier_faults"
down_revision = "0005_rollouts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tier_faults",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("tier", sa.String(64), nullable=False),
        sa.Column("sites", sa.JSON(), nullable=True),
        sa.Column("factor", sa.Float(), nullable=False),
        sa.Column("start_s", sa.Float(), nullable=False),
        sa.Column("end_s", sa.Float(), nullable=False),
        sa.Column("created_at_s", sa.Float(), nullable=False),
        sa.Column("cleared_at_s", sa.Float(), nullable=True),
        sa.Column("note", sa.String(200), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tier_faults")),
        sa.CheckConstraint("kind IN ('outage', 'link_degradation')", name=op.f("ck_tier_faults_kind")),
        sa.CheckConstraint("end_s > start_s", name=op.f("ck_tier_faults_window")),
    )
    op.create_index("ix_tier_faults_end_s", "tier_faults", ["end_s"])


def downgrade() -> None:
    op.drop_index("ix_tier_faults_end_s", table_name="tier_faults")
    op.drop_table("tier_faults")
