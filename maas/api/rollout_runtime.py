"""The gateway's side of rollouts, transport-free: its ``VersionRouter`` over the database, and the periodic
``RolloutWatcher`` (uplinks advanced, canaries judged for automatic rollback).

    router = open_version_router(settings, clock)         # reads rollouts, uplink states and the registry
    watcher = RolloutWatcher(settings, clock)
    watcher.step()                                        # the gateway calls it every rollout_check_s

``step`` advances every uplink to the satellite tier (``UplinkTracker.advance``; an arrival bumps the routing
revision so gateways route the version there) and, for each canary with ``auto_rollback``, compares its error
rate and deadline attainment with the stable version's over the last ``rollback_window_s`` of usage records
(``maas.registry.autorollback.judge``); a worse canary is rolled back and the history says why. Several gateway
replicas may run it: a transfer's progress and a rollback are each one transaction, and a rollback only applies
if the canary is still the version judged.
"""

from __future__ import annotations

import logging

from sqlalchemy import case, func, select

from maas.api.versions import VersionRouter
from maas.clock import Clock
from maas.metering.usage_tables import UsageRow
from maas.registry import open_registry
from maas.registry.autorollback import WindowStats, judge
from maas.registry.rollouts import RolloutStore
from maas.registry.uplink_open import open_uplink_tracker
from maas.registry.uplink_tables import UplinkTransfer
from maas.settings import Settings
from maas.store import session_scope

__all__ = ["open_version_router", "RolloutWatcher", "window_stats"]

log = logging.getLogger(__name__)


def open_version_router(settings: Settings, clock: Clock) -> VersionRouter:
    """A ``VersionRouter`` over the platform database and registry of ``settings``."""
    registry = open_registry(settings)
    store = RolloutStore(registry.engine, clock)
    tracker = open_uplink_tracker(settings, registry.engine, clock)

    def load():
        with session_scope(registry.engine, write=False) as session:
            states = {(r.model, r.version, r.tier): r.state for r in session.scalars(select(UplinkTransfer))}
        revision, routes = store.routing_table(lambda m, v, t: states.get((m, v, t), "ready") == "ready")
        return revision, routes, registry.catalog()

    return VersionRouter(revision=store.revision, load=load, require=tracker.require, seed=settings.seed,
                         check_s=settings.routing_check_s)


def window_stats(engine, model: str, version: int, since_s: float) -> WindowStats:
    """One version's usage records since ``since_s``: requests, 5xx errors, deadlines carried and met."""
    with session_scope(engine, write=False) as session:
        row = session.execute(
            select(
                func.count(),
                func.sum(case((UsageRow.status >= 500, 1), else_=0)),
                func.sum(case((UsageRow.deadline_met.is_not(None), 1), else_=0)),
                func.sum(case((UsageRow.deadline_met.is_(True), 1), else_=0)),
            ).where(
                UsageRow.model == model,
                UsageRow.version == str(version),
                UsageRow.time_s >= since_s,
                UsageRow.status != 429,
            )
        ).one()
    return WindowStats(int(row[0] or 0), int(row[1] or 0), int(row[2] or 0), int(row[3] or 0))


class RolloutWatcher:
    """Uplinks and automatic rollbacks, one ``step`` at a time (see the module docstring)."""

    def __init__(self, settings: Settings, clock: Clock) -> None:
        self.settings = settings
        self.clock = clock
        registry = open_registry(settings)
        self.engine = registry.engine
        self.store = RolloutStore(self.engine, clock)
        self.tracker = open_uplink_tracker(settings, self.engine, clock)
        self.tracker.resume()

    def summary(self) -> list[dict]:
        """Every model's rollout for the status page: stable and canary (version, tiers, ready), the canary's share,
        auto-rollback, and its satellite uplinks (state, bytes sent of total, ETA). Database reads: call it from a
        worker thread."""
        out = []
        for model, state in sorted(self.store.states().items()):
            uplinks = self.tracker.rollout_status(model) if self.tracker.tiers else []
            out.append({
                **state.to_dict(),
                "uplinks": [{"version": u.version, "tier": u.tier, "state": u.state, "bytes_sent": u.bytes_sent,
                             "bytes_total": u.bytes_total, "eta_s": u.eta_s, "next_window_start_s": u.next_window_start_s}
                            for u in uplinks],
            })
        return out

    def step(self) -> list[str]:
        """One round; returns what it did (arrivals, rollbacks) for logs and tests."""
        done = []
        arrived = [s for s in self.tracker.advance() if s.state != "uplinking"]
        if arrived:
            self.store.bump()
            done += [f"{s.model}:{s.version} {s.state} on {s.tier}" for s in arrived]
        s = self.settings
        now = self.clock.now_s()
        for model, state in self.store.states().items():
            if not (state.auto_rollback and state.canary_active and state.stable is not None):
                continue
            since = max(now - s.rollback_window_s, state.canary_since_s or now)
            stable = window_stats(self.engine, model, state.stable.version, since)
            canary = window_stats(self.engine, model, state.canary.version, since)
            reason = judge(stable, canary, error_margin=s.rollback_error_margin,
                           attainment_margin=s.rollback_attainment_margin, min_requests=s.rollback_min_requests,
                           window_s=now - since)
            if reason is not None:
                self.store.rollback(model, state.canary.version, reason)
                log.warning("%s: canary version %s rolled back: %s", model, state.canary.version, reason)
                done.append(f"{model}:{state.canary.version} rolled back: {reason}")
        return done
