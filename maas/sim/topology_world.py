"""``TopologyWorld``: ``maas.tiers.World`` behind the simulator's ``SimWorld`` protocol.

Queues are kept per tier location: the SME site's cell for base-station and optical-access tiers, its data centre
for the ground tier, one shared location for the satellite tier (the serving satellite changes over time).
Estimates are cached per (site, tier, model profile) for ``refresh_s`` of virtual time (and never past the end of
a contact window, past a handover spike's edge): a ``World.estimate`` costs ~15 us, four per request would cap the simulator near 15,000
requests per second. Contact windows are prefetched for the sites in use in one vectorised pass (disk-cached).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from maas.tiers import Topology, World, load_topology
from maas.tiers.contacts import default_cache_dir
from maas.tiers.world import reuse_until_s

__all__ = ["TopologyWorld", "topology_world_factory"]


class TopologyWorld:
    """Adapter from ``maas.tiers.World`` to ``maas.sim.world.SimWorld``."""

    def __init__(self, topology: Topology, clock: Any, seed: int = 0, refresh_s: float = 1.0,
                 cache_dir: Path | None = None) -> None:
        self.topology = topology
        self.world = World(topology, clock, seed, cache_dir=cache_dir or default_cache_dir())
        self.tier_names = list(topology.tier_names)
        self._spec = topology.tiers
        self._precision = {t: s.precision for t, s in self._spec.items()}
        self.refresh_s = refresh_s
        self._cache: dict[tuple, tuple[float, float, Any]] = {}

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
                 t_s: float) -> Any:
        key = (site, tier, host_compute_ms, input_bytes, output_bytes)
        hit = self._cache.get(key)
        if hit is not None and hit[0] <= t_s < hit[1]:
            return hit[2]
        est = self.world.estimate(site, tier, host_compute_ms=host_compute_ms, precision=self._precision[tier],
                                  input_bytes=input_bytes, output_bytes=output_bytes, t_s=t_s)
        if self.refresh_s > 0:
            self._cache[key] = (t_s, reuse_until_s(t_s, self.refresh_s, (est,)), est)
        return est

    def sample_link_ms(self, site: str, tier: str, *, input_bytes: int, output_bytes: int,
                       rng: np.random.Generator, t_s: float) -> tuple[float, float]:
        return self.world.sample_link_ms(site, tier, input_bytes=input_bytes, output_bytes=output_bytes, rng=rng,
                                         t_s=t_s)

    def record_request(self, site: str, tier: str, *, start_s: float, compute_ms: float, energy_j: float) -> None:
        self.world.record_request(site, tier, start_s=start_s, compute_ms=compute_ms, energy_j=energy_j)

    def battery_capacity_j(self, tier: str) -> float | None:
        b = self._spec[tier].battery
        return None if b is None else b.capacity_j


def topology_world_factory(path: Path, seed: int = 0, refresh_s: float = 1.0
                           ) -> tuple[Callable[[Any], TopologyWorld], Topology]:
    """Load the topology once; return a factory of fresh worlds (one per simulated policy) and the topology."""
    topology = load_topology(path)
    return (lambda clock: TopologyWorld(topology, clock, seed, refresh_s)), topology
