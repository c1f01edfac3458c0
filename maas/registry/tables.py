"""Tables of the model registry (revision ``0003_registry`` in ``maas/store/migrations/versions``).

A model has versions (integers from 1); a version has variants (``fp32`` and ``int8``), each naming its artifact
by sha256 (the file is ``<data_dir>/artifacts/<sha[:2]>/<sha>.onnx``). ``manifest`` holds the version's
``maas.models.ModelManifest`` as JSON, with variant files relative to the artifacts directory. Times are UNIX
seconds (UTC) from the injected clock.
"""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, CheckConstraint, Float, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from maas.store import Base

__all__ = ["RegisteredModel", "ModelVersion", "ModelVariant", "VERSION_STATES"]

#: ``ready``: registered, may be served; ``serving``: a rollout serves it on ``serving_tiers`` (cannot be removed).
VERSION_STATES = ("ready", "serving")


class RegisteredModel(Base):
    """A model name; its versions hold everything else."""

    __tablename__ = "registry_models"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    created_at_s: Mapped[float] = mapped_column(Float)

    versions: Mapped[list[ModelVersion]] = relationship(back_populates="model", lazy="raise", passive_deletes="all")


class ModelVersion(Base):
    """One immutable version: the pushed fp32 bytes (by sha256), its manifest, its serving state."""

    __tablename__ = "registry_versions"
    __table_args__ = (
        UniqueConstraint("model_id", "version", name="uq_registry_versions_model_id_version"),
        CheckConstraint("version >= 1", name="version_positive"),
        CheckConstraint("state IN ('ready', 'serving')", name="state_known"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("registry_models.id", ondelete="RESTRICT"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    description: Mapped[str | None] = mapped_column(String(1024))
    state: Mapped[str] = mapped_column(String(16))
    serving_tiers: Mapped[list[str] | None] = mapped_column(JSON)
    fp32_sha256: Mapped[str] = mapped_column(String(64), index=True)
    tokenizer_sha256: Mapped[str | None] = mapped_column(String(64))
    quantisation: Mapped[str] = mapped_column(String(16))  # dynamic | static | built (reference recipe)
    agreement_inputs: Mapped[str] = mapped_column(String(16))  # generated | calibration | built
    manifest: Mapped[dict] = mapped_column(JSON)
    created_at_s: Mapped[float] = mapped_column(Float)

    model: Mapped[RegisteredModel] = relationship(back_populates="versions", lazy="raise")
    variants: Mapped[list[ModelVariant]] = relationship(
        back_populates="version", lazy="raise", cascade="all, delete-orphan", passive_deletes=True
    )


class ModelVariant(Base):
    """One artifact of a version: its sha256, size, host latency at batch 1/4/16 and agreement with fp32."""

    __tablename__ = "registry_variants"
    __table_args__ = (UniqueConstraint("version_id", "variant", name="uq_registry_variants_version_id_variant"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("registry_versions.id", ondelete="CASCADE"), index=True)
    variant: Mapped[str] = mapped_column(String(16))
    artifact_sha256: Mapped[str] = mapped_column(String(64), index=True)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    host_ms_p50_batch1: Mapped[float | None] = mapped_column(Float)
    host_ms_p50_batch4: Mapped[float | None] = mapped_column(Float)
    host_ms_p50_batch16: Mapped[float | None] = mapped_column(Float)
    agreement: Mapped[dict] = mapped_column(JSON)

    version: Mapped[ModelVersion] = relationship(back_populates="variants", lazy="raise")
