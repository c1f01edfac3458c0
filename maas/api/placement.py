"""The gateway's view of the tiers: estimates from the tier models plus live queue state, per request.

``PlacementEstimator`` owns what the live path knows beyond one request: requests in flight per (model, tier),
the host time each model takes on each tier (learned from completions), and the emulation scales. It builds the
``TierView``s a policy ranks with ``maas.routing.views_from_estimates``, the same function the simulator uses.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from maas.api.hints import RoutingHints, parse_hints
from maas.clock import Clock
from maas.models import ModelManifest
from maas.routing import RouteRequest, TierView
from maas.routing.views import TierQueue, views_from_estimates
from maas.settings import Settings
from maas.tiers import Topology, World
from maas.tiers.world import reuse_until_s

__all__ = ["Placement", "PlacementEstimator"]

_EWMA = 0.2
_CACHE_MAX = 65536
_DEFAULT_HOST_MS = 1.0


@dataclass(slots=True)
class Placement:
    """The tier chosen for one request and what was estimated for it."""

    request: RouteRequest
    tier: str
    view: TierView
    precision: str
    compute_factor: float
    input_bytes: int
    output_bytes: int
    t_s: float


class PlacementEstimator:
    def __init__(self, topology: Topology, world: World, clock: Clock, settings: Settings) -> None:
        self._topology = topology
        self._world = world
        self._clock = clock
        self._network_scale = settings.network_emulation
        self._compute_scale = settings.compute_emulation
        self._tiers = list(topology.tier_names)
        self._queues: dict[tuple[str, str], TierQueue] = {}
        self._host_ms: dict[tuple[str, str], float] = {}
        self._hop_ms = 0.5
        self._refresh_s = settings.estimate_refresh_s
        self._cache: dict[tuple, _AffineEstimate] = {}
        self._rng = random.Random(settings.seed)
        self._kinds = {name: spec.kind for name, spec in topology.tiers.items()}

    # -- per tier facts ---------------------------------------------------------------------------------------
    def precision(self, tier: str) -> str:
        return self._topology.tiers[tier].precision

    def slots(self, tier: str) -> int:
        return self._topology.tiers[tier].slots

    def hints(self, parameters: Mapping[str, Any], headers: Mapping[str, str]) -> RoutingHints:
        return parse_hints(
            parameters,
            headers,
            tiers=self._tiers,
            site_exists=self._site_exists,
            default_site=self._topology.default_site,
        )

    def _site_exists(self, name: str) -> bool:
        try:
            self._topology.site(name)
        except (KeyError, LookupError, ValueError):
            return False
        return True

    def _host_estimate(self, manifest: ModelManifest, tier: str) -> float:
        key = (manifest.name, tier)
        known = self._host_ms.get(key)
        if known is not None:
            return known
        profile = manifest.profile.get(self.precision(tier)) or manifest.profile.get("fp32") or {}
        return float(profile.get("host_ms_p50", _DEFAULT_HOST_MS))

    # -- views and placement --------------------------------------------------------------------------------
    def views(
        self, manifest: ModelManifest, route: RouteRequest, tiers: list[str], output_bytes: int
    ) -> list[TierView]:
        now_s = self._clock.now_s()
        estimates = {}
        queues = {}
        for tier in tiers:
            host_ms = self._host_estimate(manifest, tier)
            affine = self._affine(route.site, tier, route.input_bytes, output_bytes, now_s)
            estimates[tier] = affine.at(host_ms, self._network_scale, self._compute_scale)
            queues[tier] = self._queue(manifest.name, tier)
        return views_from_estimates(
            estimates, queues, now_s=now_s, platform_ms=self._hop_ms, kinds=self._kinds, rng=self._rng
        )

    def _affine(self, site: str, tier: str, input_bytes: int, output_bytes: int, now_s: float) -> _AffineEstimate:
        """The tier's estimate as a function of host time, cached for ``estimate_refresh_s`` of clock time."""
        key = (site, tier, input_bytes, output_bytes)
        cached = self._cache.get(key)
        if cached is not None and now_s < cached.expires_s:
            return cached
        kwargs = {"precision": self.precision(tier), "input_bytes": input_bytes, "output_bytes": output_bytes, "t_s": now_s}
        one = self._world.estimate(site, tier, host_compute_ms=1.0, **kwargs)
        two = self._world.estimate(site, tier, host_compute_ms=2.0, **kwargs)
        expires_s = reuse_until_s(now_s, self._refresh_s, (one,))
        if len(self._cache) >= _CACHE_MAX:
            self._cache.clear()
        affine = self._cache[key] = _AffineEstimate(one, two, expires_s)
        return affine

    def placement(
        self, manifest: ModelManifest, route: RouteRequest, view: TierView, output_bytes: int
    ) -> Placement:
        host = self._host_estimate(manifest, view.tier)
        return Placement(
            request=route,
            tier=view.tier,
            view=view,
            precision=self.precision(view.tier),
            compute_factor=view.compute_ms / host if host > 0 else 1.0,
            input_bytes=route.input_bytes,
            output_bytes=output_bytes,
            t_s=self._clock.now_s(),
        )

    def sample_link_ms(self, placement: Placement, rng: np.random.Generator) -> tuple[float, float]:
        if self._network_scale == 0:
            return 0.0, 0.0
        up, down = self._world.sample_link_ms(
            placement.request.site,
            placement.tier,
            input_bytes=placement.input_bytes,
            output_bytes=placement.output_bytes,
            rng=rng,
            t_s=placement.t_s,
        )
        return up * self._network_scale, down * self._network_scale

    # -- live state -------------------------------------------------------------------------------------------
    def _queue(self, model: str, tier: str) -> TierQueue:
        key = (model, tier)
        queue = self._queues.get(key)
        if queue is None:
            queue = self._queues[key] = TierQueue(in_flight=[0], slots=self.slots(tier))
        return queue

    @contextmanager
    def in_flight(self, model: str, tier: str) -> Iterator[None]:
        queue = self._queue(model, tier)
        queue.in_flight[0] += 1
        try:
            yield
        finally:
            queue.in_flight[0] -= 1

    def account(self, placement: Placement, host_ms: float, compute_ms: float) -> tuple[float, float]:
        """Energy (J) and carbon (g) of a completed request; the tier models record it (battery drain)."""
        affine = self._affine(
            placement.request.site, placement.tier, placement.input_bytes, placement.output_bytes, placement.t_s
        )
        energy_j, carbon_g = affine.energy_carbon(host_ms)
        self._world.record_request(
            placement.request.site, placement.tier, start_s=placement.t_s, compute_ms=compute_ms, energy_j=energy_j
        )
        return round(energy_j, 6), round(carbon_g, 6)

    def learn(self, placement: Placement, host_ms: float, hop_ms: float) -> None:
        key = (placement.request.model, placement.tier)
        prev = self._host_ms.get(key, host_ms)
        self._host_ms[key] = prev + _EWMA * (host_ms - prev)
        self._hop_ms += _EWMA * (hop_ms - self._hop_ms)


class _AffineEstimate:
    """A ``TierEstimate`` as a function of host compute time h: device time, energy, carbon and battery-after are
    affine in h (``World`` charges compute linearly), everything else does not depend on it. Built from the
    estimates at h = 1 ms and h = 2 ms, so any h costs two multiplications instead of a tier-model call."""

    __slots__ = ("est", "expires_s", "compute_per_ms", "energy", "carbon", "after")

    def __init__(self, one: Any, two: Any, expires_s: float) -> None:
        self.est = one
        self.expires_s = expires_s
        self.compute_per_ms = two.compute_ms - one.compute_ms
        self.energy = (2 * one.energy_j - two.energy_j, two.energy_j - one.energy_j)
        self.carbon = (2 * one.carbon_g - two.carbon_g, two.carbon_g - one.carbon_g)
        if one.battery_after_j is None:
            self.after = None
        else:
            self.after = (2 * one.battery_after_j - two.battery_after_j, two.battery_after_j - one.battery_after_j)

    def energy_carbon(self, host_ms: float) -> tuple[float, float]:
        return self.energy[0] + self.energy[1] * host_ms, self.carbon[0] + self.carbon[1] * host_ms

    def at(self, host_ms: float, network_scale: float, compute_scale: float) -> _Scaled:
        device_ms = self.compute_per_ms * host_ms
        emulated_ms = host_ms + (device_ms - host_ms) * compute_scale
        energy_j, carbon_g = self.energy_carbon(host_ms)
        after = None if self.after is None else self.after[0] + self.after[1] * host_ms
        return _Scaled(self.est, network_scale, emulated_ms, energy_j, carbon_g, after)


class _Scaled:
    """What ``views_from_estimates`` reads: a TierEstimate with network delays scaled by the emulation factor,
    compute set to the emulated device time, and energy/carbon/battery for the expected host time."""

    __slots__ = (
        "available", "reason", "uplink_ms", "downlink_ms", "network_p99_ms", "compute_ms", "energy_j", "carbon_g",
        "window_end_s", "battery_j", "battery_after_j", "battery_reserve_j",
    )

    def __init__(
        self, est: Any, network_scale: float, compute_ms: float, energy_j: float, carbon_g: float, after: float | None
    ) -> None:
        self.available = est.available
        self.reason = est.reason
        self.uplink_ms = est.uplink_ms * network_scale
        self.downlink_ms = est.downlink_ms * network_scale
        self.network_p99_ms = est.network_p99_ms * network_scale
        self.compute_ms = compute_ms
        self.energy_j = energy_j
        self.carbon_g = carbon_g
        self.window_end_s = est.window_end_s
        self.battery_j = est.battery_j
        self.battery_after_j = after
        self.battery_reserve_j = est.battery_reserve_j
