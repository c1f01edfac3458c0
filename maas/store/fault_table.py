"""Rehearsed faults (``maas tiers fail``): the ``tier_faults`` table every gateway replica reads, and its operations.

A row is one fault in the simulator's model (``maas.placement.Fault``): an ``outage`` of ``tier`` (or a
``link_degradation`` by ``factor``) at ``sites`` (null: every site) over wall-clock ``[start_s, end_s)``. Restoring a
tier sets ``cleared_at_s`` on its active rows (kept for the record). ``active_faults`` is the one cheap query the
replicas poll (``maas.api.admin_faults.FaultWatcher``). Migration: 0006_tier_faults.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import JSON, CheckConstraint, Float, Index, Integer, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from maas.store.base import Base

__all__ = ["TierFault", "FaultRecord", "add_fault", "active_faults", "clear_faults"]


class TierFault(Base):
    __tablename__ = "tier_faults"
    __table_args__ = (
        CheckConstraint("kind IN ('outage', 'link_degradation')", name="kind"),
        CheckConstraint("end_s > start_s", name="window"),
        Index("ix_tier_faults_end_s", "end_s"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    tier: Mapped[str] = mapped_column(String(64))
    sites: Mapped[list | None] = mapped_column(JSON, nullable=True)
    factor: Mapped[float] = mapped_column(Float)
    start_s: Mapped[float] = mapped_column(Float)
    end_s: Mapped[float] = mapped_column(Float)
    created_at_s: Mapped[float] = mapped_column(Float)
    cleared_at_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    note: Mapped[str | None] = mapped_column(String(200), nullable=True)


@dataclass(frozen=True)
class FaultRecord:
    """A row as plain data (what the admin API returns and the watcher turns into ``maas.placement.Fault``)."""

    id: int
    kind: str
    tier: str
    sites: tuple[str, ...] | None
    factor: float
    start_s: float
    end_s: float
    created_at_s: float
    cleared_at_s: float | None
    note: str | None

    def to_dict(self) -> dict:
        return {"id": self.id, "kind": self.kind, "tier": self.tier,
                "sites": list(self.sites) if self.sites is not None else None, "factor": self.factor,
                "start_s": self.start_s, "end_s": self.end_s, "created_at_s": self.created_at_s,
                "cleared_at_s": self.cleared_at_s, "note": self.note}


def _record(row: TierFault) -> FaultRecord:
    return FaultRecord(row.id, row.kind, row.tier, tuple(row.sites) if row.sites is not None else None, row.factor,
                       row.start_s, row.end_s, row.created_at_s, row.cleared_at_s, row.note)


def add_fault(session: Session, *, kind: str, tier: str, sites: list[str] | None, factor: float, start_s: float,
              end_s: float, now_s: float, note: str | None = None) -> FaultRecord:
    """Insert one fault (the caller validated the tier, sites and window)."""
    row = TierFault(kind=kind, tier=tier, sites=sorted(sites) if sites is not None else None, factor=factor,
                    start_s=start_s, end_s=end_s, created_at_s=now_s, note=note)
    session.add(row)
    session.flush()
    return _record(row)


def active_faults(session: Session, now_s: float) -> list[FaultRecord]:
    """Faults not cleared and not over at ``now_s`` (including those that start later), oldest first."""
    rows = session.scalars(select(TierFault).where(TierFault.cleared_at_s.is_(None), TierFault.end_s > now_s)
                           .order_by(TierFault.id))
    return [_record(r) for r in rows]


def clear_faults(session: Session, tier: str, now_s: float) -> list[FaultRecord]:
    """End every active fault of ``tier`` now; returns them (empty when the tier had none)."""
    rows = list(session.scalars(select(TierFault).where(TierFault.tier == tier, TierFault.cleared_at_s.is_(None),
                                                        TierFault.end_s > now_s)))
    for r in rows:
        r.cleared_at_s = now_s
    session.flush()
    return [_record(r) for r in rows]
