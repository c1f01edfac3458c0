"""A local platform for benchmarks, started as bench/bench_serving.py does: local Ray (2 CPUs, every tier's
resource), ``start_serve``, every model on every tier, ``prepare_service`` (database, admin and dev keys), a
``bench`` tenant whose limits never refuse, the gateway, and readiness polled. Import this module before ray.

``with local_platform(shed_factor=None) as p:`` yields a ``LocalPlatform`` (url, settings, keys); Serve and Ray
are shut down on exit. Never start it while another engineer's Ray tests run (one Ray instance per machine).
"""

from __future__ import annotations

import os
import uuid

from maas.loadtest.stubserver import free_port
from maas.serving.ray_env import apply_ray_env

# Ray Serve puts HAProxy's sockets in <dir>/<56-char hash>/, and a socket path must fit in 97 bytes here: a short
# directory of this run's own (apply_ray_env fills in the ports and keeps these).
_SOCKETS = f"/tmp/mh{uuid.uuid4().hex[:6]}"
os.environ.setdefault("RAY_SERVE_HAPROXY_SOCKET_PATH", f"{_SOCKETS}/admin.sock")
os.environ.setdefault("RAY_SERVE_HAPROXY_METRICS_SOCKET_PATH", f"{_SOCKETS}/metrics.sock")
apply_ray_env()

import tempfile  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import ray  # noqa: E402
from ray import serve  # noqa: E402

from maas.serving.layout import load_layout  # noqa: E402
from maas.settings import Settings, load_settings  # noqa: E402
from maas.tiers import load_topology  # noqa: E402

__all__ = ["LocalPlatform", "local_platform"]


@dataclass
class LocalPlatform:
    url: str
    settings: Settings
    placements: dict[str, list[str]]
    bench_key: str  # a tenant with limits that never refuse
    admin_key: str
    dev_key: str

    def bearer(self, key: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {key or self.bench_key}"}


def _bench_key(settings: Settings) -> str:
    from maas.clock import WallClock
    from maas.metering import Keys, Tenants, load_server_secret
    from maas.store import make_engine

    engine = make_engine(settings.effective_database_url())
    Tenants(engine, WallClock()).create("bench", rpm=1_000_000, burst=1_000_000)
    return Keys(engine, load_server_secret(settings.data_dir), WallClock()).create("bench").key


@contextmanager
def local_platform(**overrides: Any) -> Iterator[LocalPlatform]:
    """See the module docstring; ``overrides`` are settings fields (e.g. ``shed_factor=None``)."""
    from maas.api.service import prepare_service
    from maas.clock import WallClock
    from maas.serving import platform as plat
    from maas.serving.readiness import wait_until_serving

    overrides.setdefault("data_dir", Path(tempfile.mkdtemp(prefix="maas-bench-")))
    overrides.setdefault("port", free_port())
    overrides.setdefault("grpc_port", free_port())  # never 8001: a running maas there would share it (SO_REUSEPORT)
    settings = load_settings(None, **overrides)
    topology = load_topology(settings.topology_path)
    units = load_layout(settings.layout_path, topology.tier_names).embedded.tier_units
    resources = {spec.ray_resource: units for spec in topology.tiers.values()}
    ray.init(address="local", num_cpus=2, resources=resources, include_dashboard=False, namespace="serve",
             log_to_driver=False)
    try:
        plat.start_serve(settings)
        catalog = plat.registered_catalog(settings)
        placements = {m: list(topology.tier_names) for m in catalog.names()}
        plat.deploy_models(settings, placements)
        prepare_service(settings, WallClock())
        key = _bench_key(settings)
        plat.deploy_gateway(settings)
        wait_until_serving(settings, placements, timeout_s=300)
        data = Path(settings.data_dir)
        yield LocalPlatform(f"http://{settings.host}:{settings.port}", settings, placements, key,
                            (data / "admin.key").read_text().strip(), (data / "dev.key").read_text().strip())
    finally:
        serve.shutdown()
        ray.shutdown()
