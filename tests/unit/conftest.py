"""A real data plane without a cluster: LocalBackend runs the real ONNX models in-process; time is virtual."""

from __future__ import annotations

import tempfile
from datetime import datetime, timezone
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from maas.api.app import create_app
from maas.api.backend import LocalBackend
from maas.api.factory import build_dataplane
from maas.clock import ManualClock
from maas.settings import load_settings
from maas.tiers import load_topology

START_S = datetime(2026, 11, 21, 12, 0, tzinfo=timezone.utc).timestamp()


def make_client(models_dir, catalog, **overrides):
    """A TestClient over a real data plane; its database and journal live in a fresh temporary directory, and
    auth is off unless ``auth=True`` is passed (the service tests pass it)."""
    overrides.setdefault("data_dir", Path(tempfile.mkdtemp(prefix="maas-unit-")))
    overrides.setdefault("auth", False)
    settings = load_settings(None, models_dir=models_dir, **overrides)
    topology = load_topology(settings.topology_path)
    clock = ManualClock(START_S)
    backend = LocalBackend(
        catalog,
        models_dir,
        {m: list(topology.tier_names) for m in catalog.names()},
        precision_of=lambda t: topology.tiers[t].precision,
        slots_of=lambda t: topology.tiers[t].slots,
        clock=clock,
    )
    dataplane = build_dataplane(settings, backend, clock)
    return TestClient(create_app(dataplane, max_body_bytes=settings.max_body_bytes)), clock, topology


@pytest.fixture(scope="session")
def local(models_dir, catalog):
    client, clock, topology = make_client(models_dir, catalog, max_body_bytes=64 * 1024)
    with client:
        yield client, clock, topology
