"""Assemble a DataPlane from settings: catalog, topology, tier models (World), policy, and a backend."""

from __future__ import annotations

from typing import Any

from maas.api.dataplane import DataPlane
from maas.api.placement import PlacementEstimator
from maas.clock import Clock, WallClock
from maas.errors import ConfigError
from maas.models import load_catalog
from maas.routing import build_policy
from maas.settings import Settings
from maas.tiers import World, load_topology

__all__ = ["build_dataplane"]


def build_dataplane(settings: Settings, backend: Any, clock: Clock | None = None) -> DataPlane:
    """A DataPlane from settings: catalog, topology, tier models (World), policy, and the given backend."""
    clock = clock or WallClock()
    catalog = load_catalog(settings.models_dir)
    topology = load_topology(settings.topology_path)
    world = World(topology, clock, seed=settings.seed)
    world.warm(days=2)  # orbits for yesterday..tomorrow, so the first requests do not pay for propagation
    try:
        policy = build_policy(settings.policy)
    except ValueError as exc:
        raise ConfigError("settings", "policy", str(exc)) from None
    return DataPlane(
        catalog=catalog,
        estimator=PlacementEstimator(topology, world, clock, settings),
        policy=policy,
        backend=backend,
        clock=clock,
        settings=settings,
    )
