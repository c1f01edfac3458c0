"""Multi-node: each tier's replicas land only on that tier's node(s), and the gateway routes across nodes."""

from __future__ import annotations

import asyncio

import httpx
from ray import serve

from maas.api.service import prepare_service
from maas.clock import WallClock
from maas.loadtest.stubserver import free_port
from maas.polling import poll_until
from maas.serving import platform
from maas.serving.readiness import wait_until_serving
from maas.serving.tier_deployment import parse_versioned_app_name
from maas.settings import load_settings
from tests.support.reference import v2_inputs


def test_replicas_land_on_their_tier_nodes_and_serve(tier_cluster, models_dir, tmp_path):
    topology, node_of_tier = tier_cluster
    settings = load_settings(None, models_dir=models_dir, port=free_port(), grpc_port=free_port(),
                             data_dir=tmp_path)
    placements = {"digits-mlp": list(topology.tier_names)}
    platform.start_serve(settings)
    platform.deploy_models(settings, placements)
    apps = {}  # tier -> the Serve app of digits-mlp there (``model:version@tier``)
    for name in serve.status().applications:
        parsed = parse_versioned_app_name(name)
        if parsed is not None and parsed[0] == "digits-mlp":
            apps[parsed[2]] = name
    assert sorted(apps) == sorted(topology.tier_names), apps

    # Serve's throughput mode runs handles on the caller's event loop: ask every replica from one loop.
    async def where_all() -> dict[str, dict]:
        out = {}
        for tier in topology.tier_names:
            name = apps[tier]
            out[tier] = await serve.get_deployment_handle(name, app_name=name).where.remote()
        return out

    for tier, where in asyncio.run(where_all()).items():
        assert where["tier"] == tier
        assert where["node_id"] == node_of_tier[tier], f"{tier} replica ran on another tier's node"
    status = platform.status()
    tiers_by_node = {n["node_id"]: n["tiers"] for n in status["nodes"]}
    assert sorted(t for ts in tiers_by_node.values() for t in ts) == sorted(topology.tier_names)

    prepare_service(settings, WallClock())  # the platform database and the dev tenant's key
    platform.deploy_gateway(settings)
    wait_until_serving(settings, placements, timeout_s=300)
    url = f"http://{settings.host}:{settings.port}/v2/models/digits-mlp/infer"
    auth = {"Authorization": f"Bearer {(tmp_path / 'dev.key').read_text().strip()}"}
    for tier in topology.tier_names:
        resp = httpx.post(url, json={"parameters": {"tier": tier}, "inputs": v2_inputs("digits-mlp")}, timeout=30,
                          headers=auth)
        assert resp.status_code == 200, resp.text
        assert resp.json()["parameters"]["tier"] == tier
    # one hop less only where the gateway's own node carries the tier (the gateway may land on any node): once each
    # tier has had requests, exactly the tiers of the gateway's node run in its process, every other one over Ray
    admin = {"Authorization": f"Bearer {(tmp_path / 'admin.key').read_text().strip()}"}
    gateway_node = asyncio.run(_gateway_where())["node_id"]
    beside = {tier for tier, node in node_of_tier.items() if node == gateway_node}

    def hops() -> dict[str, str] | None:
        for tier in beside:
            httpx.post(url, json={"parameters": {"tier": tier}, "inputs": v2_inputs("digits-mlp")}, timeout=30,
                       headers=auth)
        doc = httpx.get(f"http://{settings.host}:{settings.port}/ui/api/status", headers=admin, timeout=30).json()
        built = {ref.rpartition("@")[2] for ref in doc["in_process"]}
        return {t["tier"]: t["hop"] for t in doc["tiers"]} if built == beside else None

    expected = {t: ("in-process" if t in beside else "ray") for t in topology.tier_names}
    assert poll_until(hops, timeout_s=60, what=f"tiers {sorted(beside)} built beside the gateway") == expected


async def _gateway_where() -> dict:
    return await serve.get_deployment_handle("Gateway", app_name=platform.GATEWAY_APP).where.remote()
