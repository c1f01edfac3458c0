"""Tables of rollouts (revision ``0005_rollouts`` in ``maas/store/migrations/versions``).

``rollouts``: one row per deployed model, its current state: the stable version (tiers it is deployed on and the
tiers where its replicas are ready), an optional canary (version, tiers, ready tiers, percent of traffic) and
whether the canary is rolled back automatically. ``rollout_events``: the history, one row per action with the
state it left (``state``, JSON) and why (``reason``). ``routing_revision``: one row whose ``revision`` every
change bumps; gateways compare it (one indexed read) to know when to reload the routing table.
Times are UNIX seconds from the injected clock.
"""

from __future__ import annotations

from sqlalchemy import JSON, Boolean, CheckConstraint, Float, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from maas.store import Base

__all__ = ["RolloutRow", "RolloutEvent", "RoutingRevision", "ROLLOUT_ACTIONS"]

#: What a history entry records.
ROLLOUT_ACTIONS = ("deploy", "canary", "ready", "promote", "abort", "undo", "rollback", "undeploy")


class RolloutRow(Base):
    """The current rollout state of one model."""

    __tablename__ = "rollouts"
    __table_args__ = (
        CheckConstraint("canary_percent IS NULL OR (canary_percent >= 1 AND canary_percent <= 99)", name="percent"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model: Mapped[str] = mapped_column(String(64), unique=True)
    stable_version: Mapped[int | None] = mapped_column(Integer)
    stable_tiers: Mapped[list] = mapped_column(JSON)
    stable_ready: Mapped[list] = mapped_column(JSON)
    canary_version: Mapped[int | None] = mapped_column(Integer)
    canary_tiers: Mapped[list] = mapped_column(JSON)
    canary_ready: Mapped[list] = mapped_column(JSON)
    canary_percent: Mapped[int | None] = mapped_column(Integer)
    auto_rollback: Mapped[bool] = mapped_column(Boolean)
    canary_since_s: Mapped[float | None] = mapped_column(Float)
    updated_at_s: Mapped[float] = mapped_column(Float)


class RolloutEvent(Base):
    """One entry of a model's rollout history: the action, the state it left, and why."""

    __tablename__ = "rollout_events"
    __table_args__ = (UniqueConstraint("model", "seq", name="uq_rollout_events_model_seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model: Mapped[str] = mapped_column(String(64), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(16))
    state: Mapped[dict] = mapped_column(JSON)
    reason: Mapped[str | None] = mapped_column(String(512))
    at_s: Mapped[float] = mapped_column(Float)


class RoutingRevision(Base):
    """A single row (id 1): bumped by every rollout change and every uplink arrival."""

    __tablename__ = "routing_revision"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    revision: Mapped[int] = mapped_column(Integer)
    changed_at_s: Mapped[float] = mapped_column(Float)
