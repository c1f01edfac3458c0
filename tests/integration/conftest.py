"""One real Ray Serve instance for the whole integration package: every model on every tier, behind the gateway.

The Ray environment (HAProxy ingress, throughput mode) is applied before ray is imported, as the CLI does.
"""

from __future__ import annotations

from maas.loadtest.stubserver import free_port
from maas.serving.ray_env import apply_ray_env

apply_ray_env()

import pytest  # noqa: E402
import ray  # noqa: E402
from ray import serve  # noqa: E402

from maas.serving.layout import load_layout  # noqa: E402
from maas.serving.readiness import wait_until_serving  # noqa: E402
from maas.settings import load_settings  # noqa: E402
from maas.tiers import load_topology  # noqa: E402


@pytest.fixture(scope="package")
def platform(models_dir, catalog, tmp_path_factory):
    from maas.api.service import prepare_service
    from maas.clock import WallClock
    from maas.serving import platform as plat

    data_dir = tmp_path_factory.mktemp("maas-data")
    settings = load_settings(None, models_dir=models_dir, port=free_port(), grpc_port=free_port(), network_emulation=1.0,
                             data_dir=data_dir)
    topology = load_topology(settings.topology_path)
    resources = {spec.ray_resource: load_layout(settings.layout_path, topology.tier_names).embedded.tier_units for spec in topology.tiers.values()}
    ray.init(address="local", num_cpus=2, resources=resources, include_dashboard=False, namespace="serve", log_to_driver=False)
    try:
        plat.start_serve(settings)
        placements = {m: list(topology.tier_names) for m in catalog.names()}
        plat.deploy_models(settings, placements)
        prepare_service(settings, WallClock())  # the database, an admin key and the dev tenant's key
        plat.deploy_gateway(settings)
        wait_until_serving(settings, placements, timeout_s=300)
        yield settings, placements, topology
    finally:
        serve.shutdown()
        ray.shutdown()


@pytest.fixture(scope="package")
def base_url(platform) -> str:
    settings = platform[0]
    return f"http://{settings.host}:{settings.port}"


@pytest.fixture(scope="package")
def dev_key(platform) -> str:
    """The ``dev`` tenant's key ``maas up`` writes on first start."""
    return (platform[0].data_dir / "dev.key").read_text().strip()


@pytest.fixture()
def auth_headers(dev_key) -> dict[str, str]:
    """A fresh dict per test: tritonclient's ``infer`` writes Inference-Header-Content-Length into the one given."""
    return {"Authorization": f"Bearer {dev_key}"}


@pytest.fixture(scope="module")
def two_hop_url(platform) -> str:
    """A second gateway with ``colocated_tiers`` off (every request over Ray to the tier's replica, as on a
    multi-node cluster), under ``/2hop``; deleted after the module that asked for it."""
    from maas.serving import platform as plat

    settings = platform[0]
    plat.deploy_gateway(settings.model_copy(update={"colocated_tiers": "off"}), name="gateway-2hop", route_prefix="/2hop")
    try:
        yield f"http://{settings.host}:{settings.port}/2hop"
    finally:
        serve.delete("gateway-2hop")
