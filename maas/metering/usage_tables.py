"""The usage table (revision ``0002_usage``): one row per metered request, written only by journal ingestion.

``tenant`` and ``key_id`` are plain names, not foreign keys: a deleted tenant or revoked key keeps its usage in
every report. ``request_id`` is unique, which makes replaying the journal idempotent. ``day``/``month`` are the
UTC calendar keys of ``time_s`` (``YYYY-MM-DD`` / ``YYYY-MM``), so grouping is the same on SQLite and PostgreSQL.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Float, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from maas.store import Base

__all__ = ["UsageRow"]

ID_TYPE = BigInteger().with_variant(Integer(), "sqlite")  # SQLite autoincrements only INTEGER PRIMARY KEY


class UsageRow(Base):
    __tablename__ = "usage_records"
    __table_args__ = (
        Index("ix_usage_records_tenant_day", "tenant", "day"),
        Index("ix_usage_records_day", "day"),
    )

    id: Mapped[int] = mapped_column(ID_TYPE, primary_key=True, autoincrement=True)
    request_id: Mapped[str] = mapped_column(String(64), unique=True)
    time_s: Mapped[float] = mapped_column(Float)
    day: Mapped[str] = mapped_column(String(10))
    month: Mapped[str] = mapped_column(String(7))
    tenant: Mapped[str] = mapped_column(String(64))
    key_id: Mapped[str | None] = mapped_column(String(16))
    model: Mapped[str] = mapped_column(String(128))
    version: Mapped[str | None] = mapped_column(String(64))
    tier: Mapped[str | None] = mapped_column(String(64))
    site: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str | None] = mapped_column(String(32))
    latency_ms: Mapped[float | None] = mapped_column(Float)
    uplink_ms: Mapped[float | None] = mapped_column(Float)
    queue_ms: Mapped[float | None] = mapped_column(Float)
    compute_ms: Mapped[float | None] = mapped_column(Float)
    downlink_ms: Mapped[float | None] = mapped_column(Float)
    platform_ms: Mapped[float | None] = mapped_column(Float)
    energy_j: Mapped[float] = mapped_column(Float)
    carbon_g: Mapped[float] = mapped_column(Float)
    deadline_met: Mapped[bool | None] = mapped_column(Boolean)
    bytes_in: Mapped[int] = mapped_column(BigInteger)
    bytes_out: Mapped[int] = mapped_column(BigInteger)
