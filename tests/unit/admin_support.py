"""A real data plane with auth on (TestClient, ManualClock), its database, an admin key and helpers, shared by the
admin API, usage route and remote CLI tests.

The placer (its satellite contact windows take seconds to compute) and the models are built once per test module
(``world``); every test gets a fresh service (database, keys, limits, journal) and app over them (``platform``)."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from maas.api.app import create_app
from maas.api.backend import LocalBackend
from maas.api.dataplane import DataPlane
from maas.api.service import open_service
from maas.clock import ManualClock
from maas.metering import Keys, Tenants, load_server_secret
from maas.metering.tables import ApiKey, Tenant
from maas.metering.usage_ingest import ingest
from maas.placement import build_live_placer
from maas.settings import load_settings
from maas.store import make_engine, session_scope
from maas.tiers import load_topology
from tests.unit.conftest import START_S

DIGITS = {"inputs": [{"name": "pixels", "datatype": "FP32", "shape": [1, 64], "data": [0.0] * 64}]}


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@dataclass
class Platform:
    client: TestClient
    clock: ManualClock
    engine: Engine
    tenants: Tenants
    keys: Keys
    data_dir: Path
    admin_key: str

    @property
    def admin(self) -> dict[str, str]:
        return bearer(self.admin_key)

    def infer(self, key: str, model: str = "digits-mlp") -> int:
        return self.client.post(f"/v2/models/{model}/infer", json=DIGITS, headers=bearer(key)).status_code

    def ingest(self) -> None:
        """What the replica's ingester does every interval: the journal into usage_records."""
        self.client.app.state.dataplane.service.journal.rotate()
        ingest(self.engine, self.data_dir / "journal")

    def state(self) -> str:
        """Every tenant and key row, for 'a refused request changed nothing' checks."""
        with session_scope(self.engine, write=False) as session:
            rows: list[Any] = [
                {c.name: getattr(r, c.name) for c in Tenant.__table__.columns}
                for r in session.scalars(select(Tenant).order_by(Tenant.id))
            ]
            rows += [
                {c.name: getattr(r, c.name) for c in ApiKey.__table__.columns}
                for r in session.scalars(select(ApiKey).order_by(ApiKey.id))
            ]
        return json.dumps(rows, sort_keys=True, default=str)


@dataclass
class World:
    models_dir: Path
    catalog: Any
    clock: ManualClock
    backend: LocalBackend
    placer: Any


@pytest.fixture(scope="module")
def world(models_dir, catalog) -> World:
    settings = load_settings(None, models_dir=models_dir, data_dir=Path(tempfile.mkdtemp(prefix="maas-world-")))
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
    return World(models_dir, catalog, clock, backend, build_live_placer(settings, clock))


@pytest.fixture()
def platform(world: World) -> Iterator[Platform]:
    data_dir = Path(tempfile.mkdtemp(prefix="maas-admin-"))
    settings = load_settings(None, models_dir=world.models_dir, auth=True, data_dir=data_dir)
    service = open_service(settings, world.clock)
    dataplane = DataPlane(
        catalog=world.catalog,
        placer=world.placer,
        backend=world.backend,
        service=service,
        clock=world.clock,
        settings=settings,
    )
    client = TestClient(create_app(dataplane, max_body_bytes=settings.max_body_bytes))
    engine = make_engine(f"sqlite:///{data_dir / 'maas.db'}")
    tenants, keys = Tenants(engine, world.clock), Keys(engine, load_server_secret(data_dir), world.clock)
    admin_key = keys.create(None, scope="admin", label="test admin").key
    try:
        with client:
            yield Platform(client, world.clock, engine, tenants, keys, data_dir, admin_key)
    finally:
        service.close()
        engine.dispose()
