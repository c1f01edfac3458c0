"""``TableWorld``: a small fixed-number world for tests and for scenarios without a topology file, behind the
tier-model protocol placement uses (``maas.placement.TierModels``, here also ``SimWorld``).

``maas.placement.TopologyTierModels`` puts ``maas.tiers.World`` behind the same protocol.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from maas.placement import TierModels
from maas.tiers.world import TierEstimate

__all__ = ["SimWorld", "Estimate", "TableTier", "TableWorld"]


SimWorld = TierModels
"""What the simulator needs from the tier models: ``maas.placement.TierModels`` (one protocol for both clocks)."""


Estimate = TierEstimate
"""The record a sim world returns: the tier models' own ``TierEstimate`` (what ``views_from_estimates`` reads)."""


@dataclass
class TableTier:
    """A tier with fixed figures: median one-way link times, lognormal spread, compute slowdown, power, carbon.

    ``up_period_s``/``up_s``: reachable only during the first ``up_s`` of every period (a contact window).
    ``battery_j``/``reserve_j``: a battery drained by compute energy (never recharged).
    """

    name: str
    kind: str
    uplink_ms: float
    downlink_ms: float
    link_sigma: float = 0.0
    slowdown: float = 1.0
    power_w: float = 10.0
    carbon_g_per_j: float = 0.0
    slots: int = 1
    up_period_s: float | None = None
    up_s: float | None = None
    battery_j: float | None = None
    reserve_j: float = 0.0


class TableWorld:
    """A world of ``TableTier``s, one location per tier. Deterministic when every ``link_sigma`` is 0."""

    def __init__(self, tiers: list[TableTier]) -> None:
        self._tiers = {t.name: t for t in tiers}
        self.tier_names = [t.name for t in tiers]
        self._battery = {t.name: t.battery_j for t in tiers if t.battery_j is not None}
        self.records: list[tuple[str, str, float, float, float]] = []

    def kind(self, tier: str) -> str:
        return self._tiers[tier].kind

    def slots(self, tier: str) -> int:
        return self._tiers[tier].slots

    def location(self, site: str, tier: str) -> str:
        return tier

    def _window_end(self, t: TableTier, t_s: float) -> tuple[bool, float | None]:
        if t.up_period_s is None or t.up_s is None:
            return True, None
        start = math.floor(t_s / t.up_period_s) * t.up_period_s
        end = start + t.up_s
        return t_s < end, end

    def estimate(self, site: str, tier: str, *, host_compute_ms: float, input_bytes: int = 0,
                 output_bytes: int = 0, t_s: float = 0.0) -> Estimate:
        t = self._tiers[tier]
        up, end = self._window_end(t, t_s)
        compute = host_compute_ms * t.slowdown
        energy = t.power_w * compute / 1000.0
        net = t.uplink_ms + t.downlink_ms
        p99 = net * math.exp(2.326 * t.link_sigma) if t.link_sigma > 0 else None
        battery = self._battery.get(tier)
        reason = None if up else "outside contact window"
        if battery is not None and battery - energy < t.reserve_j:
            up, reason = False, "battery at reserve"
        return Estimate(up, reason, t.uplink_ms, t.downlink_ms, compute, energy, energy * t.carbon_g_per_j, p99,
                        end, battery, None if battery is None else battery - energy,
                        None if battery is None else t.reserve_j, None, end)

    def sample_link_ms(self, site: str, tier: str, *, input_bytes: int = 0, output_bytes: int = 0,
                       rng: np.random.Generator, t_s: float = 0.0) -> tuple[float, float]:
        t = self._tiers[tier]
        if t.link_sigma <= 0:
            return t.uplink_ms, t.downlink_ms
        f = math.exp(t.link_sigma * rng.standard_normal())
        return t.uplink_ms * f, t.downlink_ms * f

    def record_request(self, site: str, tier: str, *, start_s: float, compute_ms: float, energy_j: float) -> None:
        self.records.append((site, tier, start_s, compute_ms, energy_j))
        if tier in self._battery:
            self._battery[tier] -= energy_j

    def battery_capacity_j(self, tier: str) -> float | None:
        return self._tiers[tier].battery_j
