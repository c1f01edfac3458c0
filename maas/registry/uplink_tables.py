"""Tables of uplink transfers to the satellite tier (revision ``0004_uplink`` in ``maas/store/migrations/versions``).

One row per (model, version, tier): the int8 artifact being sent (sha256, size), the ground station, the rate and
per-window setup used, and the progress that survives a restart: ``bytes_sent`` at clock time ``progress_at_s``
(the bytes are on the satellite: a restart resumes from there), the current plan's start (``segment_start_s``,
orbit seconds, with ``segment_bytes0`` already there) and the windows earlier plans used (``windows``, JSON).
Orbit time = ``origin_s + (clock time - origin_s) x time_scale``.
"""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, CheckConstraint, Float, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from maas.store import Base

__all__ = ["UplinkTransfer", "UPLINK_STATES"]

#: ``uplinking``: bytes still travelling; ``ready``: arrived and sha256-verified; ``refused``: every attempt
#: arrived corrupt (the satellite keeps serving the previous version).
UPLINK_STATES = ("uplinking", "ready", "refused")


class UplinkTransfer(Base):
    """The uplink of one model version's int8 variant to one satellite tier."""

    __tablename__ = "uplink_transfers"
    __table_args__ = (
        UniqueConstraint("model", "version", "tier", name="uq_uplink_transfers_model_version_tier"),
        CheckConstraint("state IN ('uplinking', 'ready', 'refused')", name="state_known"),
        CheckConstraint("bytes_sent >= 0 AND bytes_sent <= size_bytes", name="bytes_in_range"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model: Mapped[str] = mapped_column(String(64), index=True)
    version: Mapped[int] = mapped_column(Integer)
    tier: Mapped[str] = mapped_column(String(32))
    station: Mapped[str] = mapped_column(String(64))
    artifact_sha256: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    rate_bps: Mapped[float] = mapped_column(Float)
    setup_s: Mapped[float] = mapped_column(Float)
    time_scale: Mapped[float] = mapped_column(Float)
    origin_s: Mapped[float] = mapped_column(Float)
    state: Mapped[str] = mapped_column(String(16))
    attempt: Mapped[int] = mapped_column(Integer)
    max_attempts: Mapped[int] = mapped_column(Integer)
    segment_start_s: Mapped[float] = mapped_column(Float)
    segment_bytes0: Mapped[int] = mapped_column(BigInteger)
    bytes_sent: Mapped[int] = mapped_column(BigInteger)
    progress_at_s: Mapped[float] = mapped_column(Float)
    windows: Mapped[list] = mapped_column(JSON)
    completed_at_s: Mapped[float | None] = mapped_column(Float)
    message: Mapped[str | None] = mapped_column(String(512))
    created_at_s: Mapped[float] = mapped_column(Float)
