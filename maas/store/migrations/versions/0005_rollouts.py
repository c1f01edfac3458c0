"""Rollouts: the current state per model, its history, and the routing revision gateways watch.

Revision ID: 0005_rollouts
Revises: 0004_uplink
The tables are ``maas.registry.rollout_tables``; this file is hand-written and must match them
(tests/unit/test_rollouts.py compares the migrated schema with them).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_rollouts"
down_revision = "0004_uplink"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rollouts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("model", sa.String(64), nullable=False),
        sa.Column("stable_version", sa.Integer(), nullable=True),
        sa.Column("stable_tiers", sa.JSON(), nullable=False),
        sa.Column("stable_ready", sa.JSON(), nullable=False),
        sa.Column("canary_version", sa.Integer(), nullable=True),
        sa.Column("canary_tiers", sa.JSON(), nullable=False),
        sa.Column("canary_ready", sa.JSON(), nullable=False),
        sa.Column("canary_percent", sa.Integer(), nullable=True),
        sa.Column("auto_rollback", sa.Boolean(), nullable=False),
        sa.Column("canary_since_s", sa.Float(), nullable=True),
        sa.Column("updated_at_s", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rollouts")),
        sa.UniqueConstraint("model", name=op.f("uq_rollouts_model")),
        sa.CheckConstraint(
            "canary_percent IS NULL OR (canary_percent >= 1 AND canary_percent <= 99)", name=op.f("ck_rollouts_percent")
        ),
    )
    op.create_table(
        "rollout_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("model", sa.String(64), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("state", sa.JSON(), nullable=False),
        sa.Column("reason", sa.String(512), nullable=True),
        sa.Column("at_s", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rollout_events")),
        sa.UniqueConstraint("model", "seq", name=op.f("uq_rollout_events_model_seq")),
    )
    op.create_index(op.f("ix_rollout_events_model"), "rollout_events", ["model"])
    op.create_table(
        "routing_revision",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("changed_at_s", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_routing_revision")),
    )


def downgrade() -> None:
    op.drop_table("routing_revision")
    op.drop_index(op.f("ix_rollout_events_model"), table_name="rollout_events")
    op.drop_table("rollout_events")
    op.drop_table("rollouts")
