"""Assemble a DataPlane from settings: catalog, placement (topology, tier models, policy), and a backend."""

from __future__ import annotations

from typing import Any

from maas.api.dataplane import DataPlane
from maas.clock import Clock, WallClock
from maas.models import load_catalog
from maas.placement import build_live_placer
from maas.settings import Settings

__all__ = ["build_dataplane"]


def build_dataplane(settings: Settings, backend: Any, clock: Clock | None = None) -> DataPlane:
    """A DataPlane from settings: catalog, placement (topology, tier models, policy), and the given backend."""
    clock = clock or WallClock()
    return DataPlane(
        catalog=load_catalog(settings.models_dir),
        placer=build_live_placer(settings, clock),
        backend=backend,
        clock=clock,
        settings=settings,
    )
