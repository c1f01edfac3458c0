"""``LivePlacer``: the gateway's side of placement, on the wall clock (or any injected clock).

It wraps the one ``Placer`` with what only the live path has: requests in flight per (model, tier), the host
time each model takes on each tier (learned from completions, EWMA), the platform's own hop time (learned), link
delays sampled to emulate the network, and the emulation scales. The data plane asks one question per request,
``place(...)``, and gets one answer: a ``Placement``, or ``NoFeasibleTier`` with the reason.

Lifecycle per request (``maas.api.dataplane``):
1. ``place(route, deployed_tiers, profile_host_ms)`` -> ``Placement`` (raises ``NoFeasibleTier``);
2. ``sample_link_ms(placement)`` -> (uplink, downlink) to sleep through the clock;
3. ``with in_flight(placement):`` run the model on the tier;
4. ``complete(placement, host_ms, compute_ms, hop_ms, latency_ms, batch_size=, batch_host_ms=)`` -> (energy J,
   carbon g): accounting, learning and the policy's observation.

Batching (``maas.placement.batching``): a (model, tier) whose topology asks for batching gets a ``BatchQueue``, so
the router's queue estimate has the batch wait. What the worker does is learned from its completions: one that
reports no batch size does not batch (its variant refused it), and the batch host times it reports build the batch
profile (EWMA per batch size) behind the batch costs. The host time learned from a batched request is its batch's
host time over the batch's cost in singles (``ratio(n)``), so the estimate stays the time of a request alone.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from maas.clock import Clock
from maas.errors import NoFeasibleTier
from maas.placement.batching import BatchModel, BatchQueue
from maas.placement.faults import Fault
from maas.placement.placer import NoPlacement, Placement, Placer
from maas.placement.tier_models import TopologyTierModels
from maas.routing import RouteRequest, RoutingPolicy
from maas.routing.views import TierQueue

__all__ = ["LivePlacer", "LiveTuning", "build_live_placer"]


@dataclass(frozen=True)
class LiveTuning:
    """The live path's knobs (from ``maas.settings.Settings``)."""

    refresh_s: float = 1.0
    network_scale: float = 1.0
    compute_scale: float = 1.0
    host_time_ewma: float = 0.2
    default_host_ms: float = 1.0
    initial_platform_ms: float = 0.5
    seed: int = 0
    shed_factor: float | None = 1.25  # None: never shed (see maas.placement.placer.shed_threshold)


class LivePlacer:
    """Placement for the gateway: one ``Placer`` plus live queues, learned host and hop times, link sampling."""

    def __init__(self, models: TopologyTierModels, policy: RoutingPolicy, clock: Clock, tuning: LiveTuning) -> None:
        self.models = models
        self.clock = clock
        self.tuning = tuning
        self.placer = Placer(models, policy, refresh_s=tuning.refresh_s, network_scale=tuning.network_scale,
                             compute_scale=tuning.compute_scale, seed=tuning.seed, explain_refusals=True,
                             shed_factor=tuning.shed_factor)
        self.tier_names = list(models.tier_names)
        self.default_site = models.topology.default_site
        self._queues: dict[tuple[str, str], TierQueue] = {}
        self._host_ms: dict[tuple[str, str], float] = {}
        self._platform_ms = tuning.initial_platform_ms
        self._rng = np.random.default_rng(tuning.seed)
        self._batch_profile_ms: dict[tuple[str, str], dict[int, float]] = {}
        self.placer.batching = any(t.batching.max_batch_size > 1 or any(
            (o.max_batch_size or 0) > 1 for o in t.batching.models.values()) for t in models.topology.tiers.values())

    @property
    def policy(self) -> RoutingPolicy:
        return self.placer.policy

    # -- facts the data plane reports -------------------------------------------------------------------------
    def precision(self, tier: str) -> str:
        return self.models.precision(tier)

    def site_exists(self, name: str) -> bool:
        return self.models.site_exists(name)

    def set_faults(self, faults: Sequence[Fault]) -> None:
        """Faults in force, in wall-clock seconds (the same model the simulator uses)."""
        self.placer.set_faults(faults)

    def host_ms(self, model: str, tier: str, profile_host_ms: Mapping[str, float]) -> float:
        """Host compute time of ``model`` on ``tier``: learned, else the profile of the variant the tier serves."""
        known = self._host_ms.get((model, tier))
        if known is not None:
            return known
        variant = self.precision(tier)
        host = profile_host_ms.get(variant, profile_host_ms.get("fp32"))
        return self.tuning.default_host_ms if host is None else float(host)

    # -- the one question ----------------------------------------------------------------------------------------
    def place(self, route: RouteRequest, deployed: Sequence[str], profile_host_ms: Mapping[str, float]) -> Placement:
        """The tier ``route`` runs on, or ``NoFeasibleTier`` saying why none."""
        pin = route.pinned_tier
        if pin is not None and pin not in deployed:
            raise NoFeasibleTier(
                f"model {route.model!r} is not deployed on tier {pin!r} (deployed on: {', '.join(deployed)})"
            )
        tiers = tuple(deployed)
        host = tuple(self.host_ms(route.model, t, profile_host_ms) for t in tiers)
        queues = {t: self._queue(route.model, t) for t in tiers}
        key = (route.site, tiers, route.input_bytes, route.output_bytes)  # host times: see EstimateCache
        got = self.placer.place(route, tiers, host, queues, self.clock.now_s(), key=key,
                                platform_ms=self._platform_ms)
        if isinstance(got, NoPlacement):
            if got.shed:  # nothing completes while all is shed: the learned hop relaxes, or admission latches shut
                self._platform_ms += self.tuning.host_time_ewma * (self.tuning.initial_platform_ms - self._platform_ms)
            error = NoFeasibleTier(got.reason)
            if got.retry_after_s is not None:
                error.headers = {"retry-after": str(math.ceil(got.retry_after_s))}
            raise error
        return got

    def explain(self, route: RouteRequest) -> dict:
        """The last ``place``'s decision for ``route`` (``Placer.explain``): call it right after ``place``."""
        return self.placer.explain(route)

    def compute_factor(self, placement: Placement, profile_host_ms: Mapping[str, float]) -> float:
        """Emulated device time over host time for the chosen tier (the tier worker stretches compute by it)."""
        host = self.host_ms(placement.request.model, placement.tier, profile_host_ms)
        return placement.view.compute_ms / host if host > 0 else 1.0

    def sample_link_ms(self, placement: Placement) -> tuple[float, float]:
        """One draw of (uplink, downlink) ms for the chosen tier, scaled by the network emulation."""
        scale = self.tuning.network_scale
        if scale == 0:
            return 0.0, 0.0
        req = placement.request
        up, down = self.models.sample_link_ms(req.site, placement.tier, input_bytes=req.input_bytes,
                                              output_bytes=req.output_bytes, rng=self._rng, t_s=placement.t_s)
        return up * scale, down * scale

    # -- live state ----------------------------------------------------------------------------------------------
    def _queue(self, model: str, tier: str) -> TierQueue:
        key = (model, tier)
        queue = self._queues.get(key)
        if queue is None:
            queue = self._queues[key] = self._new_queue(model, tier)
        return queue

    def _new_queue(self, model: str, tier: str) -> TierQueue:
        batching = self.models.topology.tiers[tier].batching.for_model(model)
        if batching.max_batch_size > 1:
            return BatchQueue(in_flight=[0], slots=self.models.slots(tier),
                              batch=BatchModel(batching.max_batch_size, batching.max_queue_delay_ms))
        return TierQueue(in_flight=[0], slots=self.models.slots(tier))

    def set_active_slots(self, model: str, tier: str, active: int) -> None:
        """The worker of ``model`` on ``tier`` serves with ``active`` slots now (autoscaling): the queue estimate
        counts those. Versions of a model share one queue view; the last told wins."""
        if tier in self.models.topology.tiers and active >= 1:
            self._queue(model, tier).slots = active

    def batch_model(self, model: str, tier: str) -> BatchModel | None:
        """What the router assumes of ``model``'s batching on ``tier`` (None: it does not batch)."""
        queue = self._queue(model, tier)
        return queue.batch if isinstance(queue, BatchQueue) else None

    def _learn_batch(self, key: tuple[str, str], host_ms: float, batch_size: int | None,
                     batch_host_ms: float | None) -> float:
        """Learn a batching worker's profile from one completion; returns the host time of the request alone."""
        queue = self._queues.get(key)
        if not isinstance(queue, BatchQueue) or queue.batch is None:
            return host_ms
        if batch_size is None or batch_host_ms is None:  # the worker does not batch (its variant refused it)
            queue.batch = None
            return host_ms
        profile = self._batch_profile_ms.setdefault(key, {})
        prev = profile.get(batch_size, batch_host_ms)
        profile[batch_size] = prev + self.tuning.host_time_ewma * (batch_host_ms - prev)
        old = queue.batch
        queue.batch = BatchModel(old.max_batch_size, old.max_queue_delay_ms, profile)
        return batch_host_ms / queue.batch.ratio(batch_size)

    @contextmanager
    def in_flight(self, placement: Placement) -> Iterator[None]:
        queue = self._queue(placement.request.model, placement.tier)
        queue.in_flight[0] += 1
        try:
            yield
        finally:
            queue.in_flight[0] -= 1

    def complete(self, placement: Placement, host_ms: float, compute_ms: float, hop_ms: float,
                 latency_ms: float, *, batch_size: int | None = None, batch_host_ms: float | None = None
                 ) -> tuple[float, float]:
        """Account, learn and observe a completed request; returns its (energy J, carbon g), rounded to 1e-6.
        Batched, ``host_ms``/``compute_ms`` are its share of the batch (what it is charged) and ``batch_size``/
        ``batch_host_ms`` its batch's (what the batch profile is learned from)."""
        energy_j, carbon_g = self.placer.account(placement, host_ms, compute_ms, placement.t_s)
        alpha = self.tuning.host_time_ewma
        key = (placement.request.model, placement.tier)
        alone_ms = self._learn_batch(key, host_ms, batch_size, batch_host_ms) if self.placer.batching else host_ms
        prev = self._host_ms.get(key, alone_ms)
        self._host_ms[key] = prev + alpha * (alone_ms - prev)
        self._platform_ms += alpha * (hop_ms - self._platform_ms)
        energy_j, carbon_g = round(energy_j, 6), round(carbon_g, 6)
        self.placer.observe(placement, latency_ms, energy_j, self.clock.now_s())
        return energy_j, carbon_g


def build_live_placer(settings, clock: Clock) -> LivePlacer:
    """A ``LivePlacer`` from ``maas.settings.Settings``: topology, tier models (orbits warmed), policy, tuning."""
    from maas.errors import ConfigError
    from maas.routing import build_policy
    from maas.tiers import load_topology

    topology = load_topology(settings.topology_path)
    models = TopologyTierModels(topology, clock, seed=settings.seed)
    models.world.warm(days=settings.orbit_warm_days)  # so the first requests do not pay for propagation
    try:
        policy = build_policy(settings.policy)
    except ValueError as exc:
        raise ConfigError("settings", "policy", str(exc)) from None
    tuning = LiveTuning(
        refresh_s=settings.estimate_refresh_s,
        network_scale=settings.network_emulation,
        compute_scale=settings.compute_emulation,
        host_time_ewma=settings.host_time_ewma,
        default_host_ms=settings.default_host_ms,
        initial_platform_ms=settings.initial_platform_ms,
        seed=settings.seed,
        shed_factor=settings.shed_factor,
    )
    return LivePlacer(models, policy, clock, tuning)
