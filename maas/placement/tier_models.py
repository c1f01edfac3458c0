"""What placement needs from the tier models (``TierModels``), and ``TopologyTierModels``: ``maas.tiers.World``
behind that protocol, for the live gateway (wall clock) and the simulator (virtual clock) alike.

Queues are kept per tier location: the SME site's cell for base-station and optical-access tiers, its data centre
for the ground tier, one shared location for the satellite tier (the serving satellite changes over time).
Estimates are NOT cached here: ``maas.placement.estimates.EstimateCache`` is the one estimate cache.
Contact windows are prefetched for the sites in use in one vectorised pass (disk-cached).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from maas.clock import Clock
from maas.tiers import Topology, World, load_topology
from maas.tiers.contacts import default_cache_dir
from maas.tiers.world import TierEstimate

__all__ = ["TierModels", "TopologyTierModels", "topology_tier_models_factory"]


class TierModels(Protocol):
    """The tier models as placement sees them (one instance per simulated policy: it holds battery state)."""

    tier_names: list[str]

    def kind(self, tier: str) -> str: ...

    def slots(self, tier: str) -> int: ...

    def location(self, site: str, tier: str) -> str:
        """Which instance of ``tier`` serves ``site`` (a cell, a data centre...); queues are kept per location."""
        ...

    def estimate(self, site: str, tier: str, *, host_compute_ms: float, input_bytes: int, output_bytes: int,
                 t_s: float) -> TierEstimate: ...

    def sample_link_ms(self, site: str, tier: str, *, input_bytes: int, output_bytes: int,
                       rng: np.random.Generator, t_s: float) -> tuple[float, float]: ...

    def record_request(self, site: str, tier: str, *, start_s: float, compute_ms: float, energy_j: float) -> None: ...

    def battery_capacity_j(self, tier: str) -> float | None:
        """Capacity of one battery of the tier (None: the tier has no battery); estimates carry the charge."""
        ...


class TopologyTierModels:
    """``maas.tiers.World`` as ``TierModels``: each tier's estimate for the variant (precision) it serves."""

    def __init__(self, topology: Topology, clock: Clock, seed: int = 0, cache_dir: Path | None = None) -> None:
        self.topology = topology
        self.world = World(topology, clock, seed, cache_dir=cache_dir or default_cache_dir())
        self.tier_names = list(topology.tier_names)
        self._spec = topology.tiers
        self._precision = {t: s.precision for t, s in self._spec.items()}

    def precision(self, tier: str) -> str:
        return self._precision[tier]

    def site_exists(self, name: str) -> bool:
        try:
            self.topology.site(name)
        except (KeyError, LookupError, ValueError):
            return False
        return True

    def prefetch(self, sites: list[str], t0_s: float, t1_s: float) -> None:
        """Compute the contact windows of ``sites`` for the days [t0_s - 1 day, t1_s] in one pass each."""
        topo = self.topology
        specs = [topo.site(s) for s in sites if "satellite" in topo.site(s).access]
        if not specs:
            return
        idx = np.array([topo.site_index(s.name) for s in specs])
        lat = np.array([s.lat_deg for s in specs])
        lon = np.array([s.lon_deg for s in specs])
        day = math.floor(t0_s / 86400.0) * 86400.0 - 86400.0
        sat = self.world.satellites
        while day <= t1_s:
            sat.prefetch(idx, lat, lon, day)
            day += 86400.0

    def kind(self, tier: str) -> str:
        return self._spec[tier].kind

    def slots(self, tier: str) -> int:
        return self._spec[tier].slots

    def location(self, site: str, tier: str) -> str:
        kind = self._spec[tier].kind
        if kind == "satellite":
            return "constellation"
        s = self.topology.site(site)
        if kind == "ground":
            return s.datacentre or "dc"
        return s.cell or site

    def estimate(self, site: str, tier: str, *, host_compute_ms: float, input_bytes: int, output_bytes: int,
                 t_s: float) -> TierEstimate:
        return self.world.estimate(site, tier, host_compute_ms=host_compute_ms, precision=self._precision[tier],
                                   input_bytes=input_bytes, output_bytes=output_bytes, t_s=t_s)

    def sample_link_ms(self, site: str, tier: str, *, input_bytes: int, output_bytes: int,
                       rng: np.random.Generator, t_s: float) -> tuple[float, float]:
        return self.world.sample_link_ms(site, tier, input_bytes=input_bytes, output_bytes=output_bytes, rng=rng,
                                         t_s=t_s)

    def record_request(self, site: str, tier: str, *, start_s: float, compute_ms: float, energy_j: float) -> None:
        self.world.record_request(site, tier, start_s=start_s, compute_ms=compute_ms, energy_j=energy_j)

    def battery_capacity_j(self, tier: str) -> float | None:
        b = self._spec[tier].battery
        return None if b is None else b.capacity_j


def topology_tier_models_factory(path: Path, seed: int = 0) -> tuple[Callable[[Any], TopologyTierModels], Topology]:
    """Load the topology once; return a factory of fresh tier models (one per simulated policy) and the topology."""
    topology = load_topology(path)
    return (lambda clock: TopologyTierModels(topology, clock, seed)), topology
