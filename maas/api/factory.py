"""Assemble a DataPlane from settings: catalog, placement (topology, tier models, policy), and a backend."""

from __future__ import annotations

from typing import Any

from maas.api.dataplane import DataPlane
from maas.api.service import open_service
from maas.api.versions import VersionRouter
from maas.clock import Clock, WallClock
from maas.models import load_catalog
from maas.placement import build_live_placer
from maas.settings import Settings

__all__ = ["build_dataplane"]


def build_dataplane(settings: Settings, backend: Any, clock: Clock | None = None, lease_source: Any = None,
                    versions: VersionRouter | None = None) -> DataPlane:
    """A DataPlane from settings: catalog, placement (topology, tier models, policy), the service guard (keys,
    limits over ``lease_source`` or in-process, usage journal), and the given backend. With ``versions`` (the
    gateway on Ray: ``maas.api.rollout_runtime.open_version_router``) the catalog is the registry's and requests
    follow the rollouts; without, the catalog is ``settings.models_dir``'s (LocalBackend, unit tests)."""
    clock = clock or WallClock()
    return DataPlane(
        catalog=versions.catalog() if versions is not None else load_catalog(settings.models_dir),
        versions=versions,
        placer=build_live_placer(settings, clock),
        backend=backend,
        service=open_service(settings, clock, lease_source),
        clock=clock,
        settings=settings,
    )
