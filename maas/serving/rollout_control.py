"""The control path of rollouts on Ray Serve: what ``maas deploy`` and ``maas rollout promote|undo|abort`` run.

1. The change is validated and written to the database (``maas.registry.rollouts.RolloutStore``): staged,
   nothing routed to it yet. Bad input raises here and nothing else happens.
2. ``realize``: every track's tiers that are not ready get their ``model:version@tier`` application
   (``serve.run_many``, blocking until RUNNING); then the tiers are marked ready in the database, which bumps the
   routing revision: gateways see it within ``routing_check_s`` (they compare the revision that often).
   A version deployed to a satellite tier starts its uplink (``UplinkTracker.start``): until its bytes arrive the
   gateway does not route it there and the satellite keeps serving the version before it.
3. Applications of versions the rollout no longer retains (not stable, canary or the undo target) are deleted,
   ``routing_drain_s`` after the routing change, so no gateway still routes to them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from ray import serve
from ray.serve.config import AutoscalingConfig

from maas.registry import open_registry
from maas.registry.rollout_state import RolloutState
from maas.registry.rollouts import RolloutStore
from maas.registry.uplink import UplinkTracker
from maas.serving.layout import load_layout
from maas.serving.tier_deployment import TierModel, app_name, batching_policy, parse_versioned_app_name
from maas.settings import Settings
from maas.tiers import load_topology

__all__ = ["open_rollouts", "deploy_versions", "realize", "promote", "undo", "abort", "cleanup", "tier_app", "recorded_placements"]

Progress = Callable[[str], None]


def open_rollouts(settings: Settings, topology=None) -> RolloutStore:
    """The rollout store of ``settings`` (database migrated), checking tiers against the topology."""
    topology = topology or load_topology(settings.topology_path)
    registry = open_registry(settings)
    return RolloutStore(registry.engine, tier_names=topology.tier_names, registry=registry)


def recorded_placements(settings: Settings, topology=None) -> dict[str, list[str]]:
    """Model -> the tiers of its recorded stable version, for every model with a rollout (what ``maas up``
    brings back after ``maas down``; their versions come from the recorded state, see ``deploy_versions``)."""
    store = open_rollouts(settings, topology)
    return {model: list(state.stable.tiers) for model, state in sorted(store.states().items())
            if state.stable is not None}


def replica_scaling(spec) -> tuple[dict[str, Any], int]:
    """(Serve deployment options, slots per replica) of a tier's model deployments. Without ``autoscaling``: one
    replica with all the tier's slots. With it, each replica is one slot and Serve's own autoscaler
    (``autoscaling_config``, the rule ``maas.placement.autoscaling`` mirrors for in-process workers) keeps
    between ``min_slots`` and the tier's slots of them, on the requests at the replicas."""
    scaling = spec.autoscaling
    if scaling is None:
        return {"num_replicas": 1}, spec.slots
    return {"autoscaling_config": AutoscalingConfig(
        min_replicas=scaling.min_slots,
        initial_replicas=scaling.min_slots,
        max_replicas=spec.slots,
        target_ongoing_requests=scaling.target_ongoing_requests,
        upscale_delay_s=scaling.upscale_delay_s,
        downscale_delay_s=scaling.downscale_delay_s,
        look_back_period_s=scaling.look_back_period_s,
        metrics_interval_s=scaling.metrics_interval_s,
    )}, 1


def tier_app(model: str, version: int, tier: str, topology, settings: Settings, layout):
    """The bound Serve application of one model version on one tier, pinned by ``tier:<name>``."""
    spec = topology.tiers[tier]
    replica = layout.replica
    scaling, slots = replica_scaling(spec)
    return TierModel.options(
        name=app_name(model, tier, version),
        ray_actor_options={"num_cpus": replica.num_cpus, "resources": {spec.ray_resource: replica.tier_units_per_replica}},
        max_ongoing_requests=settings.tier_max_ongoing_requests,
        max_queued_requests=settings.tier_max_queued_requests,
        **scaling,
    ).bind(model, version, tier, spec.precision, slots, settings.model_dump(mode="json"),
           batching_policy(spec, model))


def deploy_versions(
    settings: Settings,
    placements: dict[str, tuple[int | None, list[str]]],
    *,
    percent: int | None = None,
    auto_rollback: bool = False,
    uplink: bool = True,
    restart: bool = False,
    progress: Progress = lambda _m: None,
) -> dict[str, RolloutState | None]:
    """Stage every ``model -> (version or None: the newest, tiers)`` (validated first, all of them), then realize
    them with one ``serve.run_many``. Returns the states after. ``restart`` (``maas up``): a model that has a
    rollout and no explicit version gets its recorded rollout back (stable, canary) instead of its newest version."""
    topology = load_topology(settings.topology_path)
    store = open_rollouts(settings, topology)
    resolved = {}
    kept = []
    for model, (version, tiers) in placements.items():
        store._check_tiers(tiers)
        state = store.state(model) if restart else None
        if restart and version is None and state is not None and state.stable is not None:
            kept.append(model)
            continue
        resolved[model] = (version or store.registry.show(model).version, tiers)  # ModelNotFound: nothing staged
    for model in kept:
        store.restart(model)
    for model, (version, tiers) in resolved.items():
        if restart:
            store.restart(model)
        store.deploy(model, version, tiers, percent, auto_rollback)
    return realize(settings, store, kept + list(resolved), uplink=uplink, progress=progress, topology=topology)


def realize(
    settings: Settings,
    store: RolloutStore,
    models: list[str],
    *,
    uplink: bool = True,
    progress: Progress = lambda _m: None,
    topology=None,
) -> dict[str, RolloutState | None]:
    """Deploy the applications the models' states need, mark them ready, start uplinks, clean up."""
    topology = topology or load_topology(settings.topology_path)
    layout = load_layout(settings.layout_path, topology.tier_names)
    targets, pending = [], []
    for model in models:
        state = store.state(model)
        for track in () if state is None else (state.stable, state.canary):
            if track is None or not track.pending():
                continue
            pending.append((model, track.version, track.pending()))
            for tier in track.pending():
                name = app_name(model, tier, track.version)
                targets.append(serve.RunTarget(tier_app(model, track.version, tier, topology, settings, layout),
                                               name=name, route_prefix=None))
    if targets:
        progress(f"deploying {len(targets)} model:version@tier application(s)")
        serve.run_many(targets, wait_for_applications_running=True)
    if uplink:
        _start_uplinks(settings, store, topology, pending, progress)
    out = {}
    for model, version, tiers in pending:
        store.mark_ready(model, version, tiers)
    for model in models:
        out[model] = store.state(model)
        cleanup(settings, store, model, progress)
    return out


def _start_uplinks(settings: Settings, store: RolloutStore, topology, pending, progress: Progress) -> None:
    satellites = {k for k, t in topology.tiers.items() if t.kind == "satellite" and t.uplink is not None}
    wanted = [(m, v, t) for m, v, tiers in pending for t in tiers if t in satellites]
    if not wanted:
        return
    tracker = UplinkTracker(store.engine, settings.data_dir, topology, time_scale=settings.uplink_time_scale)
    for model, version, tier in wanted:
        status = tracker.start(model, version, tier)
        progress(f"{model}:{version} uplinking to {tier}: {status.bytes_sent}/{status.bytes_total} bytes, "
                 f"ETA {status.eta_s}")


def _change(settings: Settings, model: str, action: str, progress: Progress) -> RolloutState | None:
    topology = load_topology(settings.topology_path)
    store = open_rollouts(settings, topology)
    getattr(store, action)(model)  # Conflict naming what is missing: nothing written
    return realize(settings, store, [model], progress=progress, topology=topology)[model]


def promote(settings: Settings, model: str, progress: Progress = lambda _m: None) -> RolloutState | None:
    return _change(settings, model, "promote", progress)


def undo(settings: Settings, model: str, progress: Progress = lambda _m: None) -> RolloutState | None:
    return _change(settings, model, "undo", progress)


def abort(settings: Settings, model: str, progress: Progress = lambda _m: None) -> RolloutState | None:
    return _change(settings, model, "abort", progress)


def cleanup(settings: Settings, store: RolloutStore, model: str, progress: Progress = lambda _m: None) -> list[str]:
    """Delete ``model``'s applications of versions the rollout does not retain, once gateways stopped routing
    to them (``routing_drain_s`` after the change)."""
    kept = store.retained(model)
    doomed = []
    for name in serve.status().applications:
        parsed = parse_versioned_app_name(name)
        if parsed is not None and parsed[0] == model and parsed[1] not in kept:
            doomed.append(name)
    if doomed:
        time.sleep(settings.routing_drain_s)  # a grace period for in-flight routing decisions, not a readiness wait
        for name in doomed:
            serve.delete(name, _blocking=False)
        progress(f"removing {', '.join(sorted(doomed))}")
    return sorted(doomed)
