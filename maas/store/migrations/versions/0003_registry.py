"""Model registry: models, their versions (manifest JSON, serving state) and variants (artifact sha256, profile).

Revision ID: 0003_registry
Revises: 0002_usage
The tables are ``maas.registry.tables.RegisteredModel`` / ``ModelVersion`` / ``ModelVariant``; this file is
hand-written and must match them (tests/unit/test_registry_store.py compares the migrated schema with them).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_registry"
down_revision = "0002_usage"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "registry_models",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("created_at_s", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_registry_models")),
        sa.UniqueConstraint("name", name=op.f("uq_registry_models_name")),
    )
    op.create_table(
        "registry_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("description", sa.String(1024), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("serving_tiers", sa.JSON(), nullable=True),
        sa.Column("fp32_sha256", sa.String(64), nullable=False),
        sa.Column("tokenizer_sha256", sa.String(64), nullable=True),
        sa.Column("quantisation", sa.String(16), nullable=False),
        sa.Column("agreement_inputs", sa.String(16), nullable=False),
        sa.Column("manifest", sa.JSON(), nullable=False),
        sa.Column("created_at_s", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_registry_versions")),
        sa.UniqueConstraint("model_id", "version", name=op.f("uq_registry_versions_model_id_version")),
        sa.ForeignKeyConstraint(
            ["model_id"],
            ["registry_models.id"],
            name=op.f("fk_registry_versions_model_id_registry_models"),
            ondelete="RESTRICT",
        ),
        sa.CheckConstraint("version >= 1", name=op.f("ck_registry_versions_version_positive")),
        sa.CheckConstraint("state IN ('ready', 'serving')", name=op.f("ck_registry_versions_state_known")),
    )
    op.create_index(op.f("ix_registry_versions_model_id"), "registry_versions", ["model_id"])
    op.create_index(op.f("ix_registry_versions_fp32_sha256"), "registry_versions", ["fp32_sha256"])
    op.create_table(
        "registry_variants",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("variant", sa.String(16), nullable=False),
        sa.Column("artifact_sha256", sa.String(64), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("host_ms_p50_batch1", sa.Float(), nullable=True),
        sa.Column("host_ms_p50_batch4", sa.Float(), nullable=True),
        sa.Column("host_ms_p50_batch16", sa.Float(), nullable=True),
        sa.Column("agreement", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_registry_variants")),
        sa.UniqueConstraint("version_id", "variant", name=op.f("uq_registry_variants_version_id_variant")),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["registry_versions.id"],
            name=op.f("fk_registry_variants_version_id_registry_versions"),
            ondelete="CASCADE",
        ),
    )
    op.create_index(op.f("ix_registry_variants_version_id"), "registry_variants", ["version_id"])
    op.create_index(op.f("ix_registry_variants_artifact_sha256"), "registry_variants", ["artifact_sha256"])


def downgrade() -> None:
    op.drop_index(op.f("ix_registry_variants_artifact_sha256"), table_name="registry_variants")
    op.drop_index(op.f("ix_registry_variants_version_id"), table_name="registry_variants")
    op.drop_table("registry_variants")
    op.drop_index(op.f("ix_registry_versions_fp32_sha256"), table_name="registry_versions")
    op.drop_index(op.f("ix_registry_versions_model_id"), table_name="registry_versions")
    op.drop_table("registry_versions")
    op.drop_table("registry_models")
