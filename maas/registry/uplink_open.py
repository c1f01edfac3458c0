"""``open_uplink_tracker(settings, engine, clock)``: the platform's ``UplinkTracker`` (topology from settings), for
layers that may not read the topology themselves (the gateway's data plane goes through ``maas.placement``)."""

from __future__ import annotations

from maas.registry.uplink import UplinkTracker
from maas.tiers import load_topology

__all__ = ["open_uplink_tracker"]


def open_uplink_tracker(settings, engine, clock=None) -> UplinkTracker:
    topology = load_topology(settings.topology_path)
    return UplinkTracker(engine, settings.data_dir, topology, clock, time_scale=settings.uplink_time_scale)
