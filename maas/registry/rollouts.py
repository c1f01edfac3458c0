"""Rollouts in the platform database: the state per model, its history, and the routing revision.

    store = RolloutStore(engine, clock, tier_names=topology.tier_names, registry=registry)
    store.deploy("churn", 2, ["ground", "base-station"], percent=20, auto_rollback=True)   # staged
    store.mark_ready("churn", 2, ["ground", "base-station"])   # the control path saw the replicas running
    store.promote("churn"); store.undo("churn"); store.abort("churn")
    store.revision()                                           # what a gateway compares every 100 ms
    store.routing_table(uplinked)                              # {model: [Route]} for the gateway

Every change runs in one transaction: the state row, one history entry (the action, the state it left, why)
and the routing revision bump commit together, or nothing does (bad input raises before anything is written).
The transitions themselves are the pure functions of ``maas.registry.rollout_state``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from maas.clock import Clock, WallClock
from maas.errors import InvalidInput
from maas.registry import rollout_state as rs
from maas.registry.rollout_tables import RolloutEvent, RolloutRow, RoutingRevision
from maas.store import read_scalar, session_scope

__all__ = ["RolloutStore", "HistoryEntry", "parse_model_ref", "Transition"]

Transition = Callable[[rs.RolloutState | None, list[rs.RolloutState]], rs.RolloutState | None]


def parse_model_ref(ref: str) -> tuple[str, int | None]:
    """``NAME`` or ``NAME:V`` -> (name, version or None); InvalidInput for a bad version."""
    name, sep, version = ref.partition(":")
    if not sep:
        return name, None
    if not version.isdigit() or int(version) < 1:
        raise InvalidInput(f"version: {version!r} in {ref!r} (allowed: NAME or NAME:V with V an integer >= 1)")
    return name, int(version)


@dataclass(frozen=True)
class HistoryEntry:
    seq: int
    action: str
    state: rs.RolloutState
    reason: str | None
    at_s: float

    def to_dict(self) -> dict:
        return {"seq": self.seq, "action": self.action, "reason": self.reason, "at_s": self.at_s,
                "state": self.state.to_dict()}


_REVISION = select(RoutingRevision.revision).where(RoutingRevision.id == 1)


class RolloutStore:
    """Rollout state and history of every model (see the module docstring). ``registry`` (optional): versions
    are checked against it and their serving marks kept in step (a retained version cannot be removed)."""

    def __init__(self, engine: Engine, clock: Clock | None = None, *, tier_names=None, registry=None) -> None:
        self.engine = engine
        self.clock = clock or WallClock()
        self.tier_names = list(tier_names) if tier_names is not None else None
        self.registry = registry

    # -- reading -------------------------------------------------------------------------------------------------
    def revision(self) -> int:
        """The routing revision (0: nothing was ever deployed)."""
        return int(read_scalar(self.engine, _REVISION) or 0)  # ten times a second per gateway: Core, no session

    def state(self, model: str) -> rs.RolloutState | None:
        with session_scope(self.engine, write=False) as session:
            row = session.scalar(select(RolloutRow).where(RolloutRow.model == model))
            return None if row is None else _state(row)

    def states(self) -> dict[str, rs.RolloutState]:
        with session_scope(self.engine, write=False) as session:
            return {row.model: _state(row) for row in session.scalars(select(RolloutRow))}

    def history(self, model: str) -> list[HistoryEntry]:
        with session_scope(self.engine, write=False) as session:
            return _history(session, model)

    def routing_table(self, uplinked=lambda _m, _v, _t: True) -> tuple[int, dict[str, list[rs.Route]]]:
        """(revision, {model: routes}); ``uplinked(model, version, tier)`` False: not on that satellite yet."""
        with session_scope(self.engine, write=False) as session:
            revision = session.scalar(select(RoutingRevision.revision).where(RoutingRevision.id == 1)) or 0
            table = {}
            for row in session.scalars(select(RolloutRow)):
                state = _state(row)
                fallback = rs.undo_target([h.state for h in _history(session, row.model)])
                table[row.model] = rs.routes(state, lambda v, t, m=row.model: uplinked(m, v, t), fallback)
        return int(revision), table

    def retained(self, model: str) -> set[int]:
        """Versions whose deployments must be kept (current, canary, the undo target)."""
        with session_scope(self.engine, write=False) as session:
            row = session.scalar(select(RolloutRow).where(RolloutRow.model == model))
            history = [h.state for h in _history(session, model)]
            return rs.retained_versions(None if row is None else _state(row), history)

    # -- changing ------------------------------------------------------------------------------------------------
    def deploy(self, model: str, version: int, tiers: list[str], percent: int | None = None,
               auto_rollback: bool = False) -> rs.RolloutState:
        """Stage ``model:version`` on ``tiers`` (a canary of ``percent``, or a takeover without one)."""
        self._check_tiers(tiers)
        if self.registry is not None:
            self.registry.show(model, version)  # ModelNotFound naming the registered versions
        action = "deploy" if percent is None else "canary"
        reason = f"version {version} on {', '.join(tiers)}" + (f" at {percent}%" if percent is not None else "")
        return self._apply(model, action, lambda s, _h: rs.deploy(s, model, version, tiers, percent, auto_rollback),
                           reason)

    def mark_ready(self, model: str, version: int, tiers: list[str]) -> rs.RolloutState | None:
        now = self.clock.now_s()

        def change(state, _history):
            if state is None:
                return None
            return rs.mark_ready(state, version, tiers, now)

        return self._apply(model, "ready", change, f"version {version} ready on {', '.join(tiers)}")

    def restart(self, model: str) -> rs.RolloutState | None:
        """The cluster was restarted: no replica is running, every track must be deployed again (same state)."""

        def change(state, _history):
            if state is None:
                return None
            return rs.replace_ready(state)

        return self._apply(model, "restart", change, "platform restarted: deployments recreated")

    def promote(self, model: str) -> rs.RolloutState:
        return self._apply(model, "promote", lambda s, _h: rs.promote(s, model), None)

    def abort(self, model: str) -> rs.RolloutState:
        return self._apply(model, "abort", lambda s, _h: rs.abort(s, model), None)

    def undo(self, model: str) -> rs.RolloutState:
        return self._apply(model, "undo", lambda s, h: rs.undo(s, model, h), None)

    def rollback(self, model: str, version: int, reason: str) -> rs.RolloutState | None:
        """Drop the canary if it is still ``version`` (another gateway may have acted first): auto-rollback."""

        def change(state, _history):
            if state is None or state.canary is None or state.canary.version != version:
                return state
            return rs.abort(state, model)

        return self._apply(model, "rollback", change, f"canary version {version} rolled back: {reason}")

    def undeploy(self, model: str) -> rs.RolloutState | None:
        """Nothing of ``model`` is routed any more (its deployments are removed by the caller)."""
        return self._apply(model, "undeploy", lambda s, _h: None if s is None else rs.RolloutState(model),
                           "every version removed")

    def bump(self, reason: str | None = None) -> int:
        """Bump the routing revision alone (an uplink arrived: routes change without a rollout change)."""
        with session_scope(self.engine) as session:
            return _bump(session, self.clock.now_s())

    # -- internals -------------------------------------------------------------------------------------------------
    def _check_tiers(self, tiers: list[str]) -> None:
        if self.tier_names is None:
            return
        for tier in tiers:
            if tier not in self.tier_names:
                raise InvalidInput(f"tiers: {tier!r} is not a tier (allowed: {', '.join(self.tier_names)})")

    def _apply(self, model: str, action: str, change: Transition, reason: str | None) -> rs.RolloutState | None:
        now = self.clock.now_s()
        with session_scope(self.engine) as session:
            row = session.scalar(select(RolloutRow).where(RolloutRow.model == model))
            old = None if row is None else _state(row)
            history = _history(session, model)
            new = change(old, [h.state for h in history])  # raises on bad input: nothing written
            if new is None or new == old:
                return new
            if row is None:
                row = RolloutRow(model=model)
                session.add(row)
            _write(row, new, now)
            seq = (history[-1].seq if history else 0) + 1
            session.add(RolloutEvent(model=model, seq=seq, action=action, state=new.to_dict(), reason=reason, at_s=now))
            _bump(session, now)
            kept = set() if action == "undeploy" else rs.retained_versions(new, [h.state for h in history] + [new])
        self._sync_serving(model, new, kept)
        return new

    def _sync_serving(self, model: str, state: rs.RolloutState, kept: set[int]) -> None:
        """Keep the registry's serving marks in step: retained versions cannot be removed."""
        if self.registry is None:
            return
        tiers_of = {t.version: list(t.tiers) for t in (state.stable, state.canary) if t is not None}
        for info in self.registry.list():
            if info.name != model:
                continue
            if info.version in kept:
                want = tiers_of.get(info.version) or info.serving_tiers or ["retained"]
                if info.state != "serving" or sorted(want) != sorted(info.serving_tiers):
                    self.registry.set_serving(model, info.version, want)
            elif info.state == "serving":
                self.registry.set_serving(model, info.version, [])


def _state(row: RolloutRow) -> rs.RolloutState:
    stable = None if row.stable_version is None else rs.Track(row.stable_version, tuple(row.stable_tiers),
                                                                tuple(row.stable_ready))
    canary = None if row.canary_version is None else rs.Track(row.canary_version, tuple(row.canary_tiers),
                                                                tuple(row.canary_ready))
    return rs.RolloutState(row.model, stable, canary, row.canary_percent, bool(row.auto_rollback), row.canary_since_s)


def _write(row: RolloutRow, state: rs.RolloutState, now: float) -> None:
    row.stable_version = None if state.stable is None else state.stable.version
    row.stable_tiers = [] if state.stable is None else list(state.stable.tiers)
    row.stable_ready = [] if state.stable is None else list(state.stable.ready)
    row.canary_version = None if state.canary is None else state.canary.version
    row.canary_tiers = [] if state.canary is None else list(state.canary.tiers)
    row.canary_ready = [] if state.canary is None else list(state.canary.ready)
    row.canary_percent = state.percent if state.canary is not None else None
    row.auto_rollback = state.auto_rollback
    row.canary_since_s = state.canary_since_s
    row.updated_at_s = now


def _history(session: Session, model: str) -> list[HistoryEntry]:
    rows = session.scalars(select(RolloutEvent).where(RolloutEvent.model == model).order_by(RolloutEvent.seq))
    return [HistoryEntry(r.seq, r.action, rs.RolloutState.from_dict(r.state), r.reason, r.at_s) for r in rows]


def _bump(session: Session, now: float) -> int:
    row = session.get(RoutingRevision, 1)
    if row is None:
        row = RoutingRevision(id=1, revision=0, changed_at_s=now)
        session.add(row)
    row.revision += 1
    row.changed_at_s = now
    session.flush()
    return row.revision
