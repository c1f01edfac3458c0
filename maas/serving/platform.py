"""Start, deploy, inspect and stop the platform on Ray: what ``maas up/down/status/deploy/undeploy`` call.

Embedded default: one local Ray node (``ray start --head``) that carries every tier's custom resource
(``tier:<name>``). Multi-node: each tier's nodes are started with ``ray start --address ... --resources
'{"tier:<name>": N}'`` and ``up(..., start_cluster=False)`` deploys onto them; every ``model@tier`` deployment asks
for one unit of its tier's resource, so its replicas can only land on that tier's nodes.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ray
from ray import serve

from maas.errors import ConfigError, NotReady
from maas.models import Catalog, load_catalog
from maas.serving.gateway import Gateway
from maas.serving.layout import RayLayout, load_layout
from maas.serving.ray_env import apply_ray_env
from maas.serving.tier_deployment import TierModel, app_name, parse_app_name
from maas.settings import Settings
from maas.tiers import Topology, load_topology

__all__ = [
    "GATEWAY_APP",
    "start_local_cluster",
    "connect",
    "start_serve",
    "tier_app",
    "deploy_models",
    "deploy_gateway",
    "undeploy_model",
    "status",
    "up",
    "down",
]

log = logging.getLogger(__name__)
GATEWAY_APP = "gateway"


def _ray_cli() -> str:
    found = shutil.which("ray", path=str(Path(sys.executable).parent)) or shutil.which("ray")
    if not found:
        raise NotReady("the `ray` command is not installed in this environment")
    return found


def start_local_cluster(topology: Topology, layout: RayLayout) -> None:
    """``ray start --head`` with every tier's resource on this node (the embedded default)."""
    resources = {spec.ray_resource: layout.embedded.tier_units for spec in topology.tiers.values()}
    num_cpus = layout.embedded.num_cpus
    cmd = [
        _ray_cli(),
        "start",
        "--head",
        "--include-dashboard=false",
        "--disable-usage-stats",
        f"--resources={json.dumps(resources)}",
    ]
    if num_cpus is not None:
        cmd.append(f"--num-cpus={num_cpus}")
    env = apply_ray_env(dict(os.environ))
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180)
    if proc.returncode != 0:
        raise NotReady(f"`ray start --head` failed: {proc.stderr.strip()[-2000:]}")


def connect(address: str | None = "auto") -> bool:
    """Connect this process to a running cluster; False when none is running."""
    if ray.is_initialized():
        return True
    try:
        ray.init(address=address, namespace="serve", logging_level=logging.WARNING, log_to_driver=False)
    except ConnectionError:
        return False
    return True


def start_serve(settings: Settings) -> None:
    serve.start(
        http_options={"host": settings.host, "port": settings.port},
        logging_config={"enable_access_log": settings.access_log, "log_level": "WARNING"},
    )


def tier_app(model: str, tier: str, topology: Topology, settings: Settings, layout: RayLayout):
    """The bound Serve application of one model on one tier, pinned by ``tier:<name>``."""
    spec = topology.tiers[tier]
    replica = layout.replica
    return TierModel.options(
        name=app_name(model, tier),
        num_replicas=1,
        ray_actor_options={"num_cpus": replica.num_cpus, "resources": {spec.ray_resource: replica.tier_units_per_replica}},
        max_ongoing_requests=settings.tier_max_ongoing_requests,
        max_queued_requests=settings.tier_max_queued_requests,
    ).bind(model, tier, spec.precision, spec.slots, str(settings.models_dir), settings.ort_threads)


def _check_placements(placements: dict[str, list[str]], catalog: Catalog, topology: Topology) -> None:
    for model, tiers in placements.items():
        catalog.get(model)  # ModelNotFound lists the known models
        for tier in tiers:
            if tier not in topology.tiers:
                raise ConfigError("--tiers", tier, "is not a tier", ", ".join(topology.tier_names))


def deploy_models(settings: Settings, placements: dict[str, list[str]]) -> None:
    """Deploy every (model, tier) in ``placements`` at once and wait until they are RUNNING."""
    catalog = load_catalog(settings.models_dir)
    topology = load_topology(settings.topology_path)
    _check_placements(placements, catalog, topology)
    layout = load_layout(settings.layout_path, topology.tier_names)
    targets = [
        serve.RunTarget(tier_app(m, t, topology, settings, layout), name=app_name(m, t), route_prefix=None)
        for m, tiers in placements.items()
        for t in tiers
    ]
    if targets:
        serve.run_many(targets, wait_for_applications_running=True)


def deploy_gateway(settings: Settings) -> None:
    gateway = Gateway.options(
        num_replicas=settings.gateway_replicas,
        ray_actor_options={"num_cpus": 0},
        max_ongoing_requests=settings.gateway_max_ongoing_requests,
    ).bind(settings.model_dump(mode="json"))
    serve.run(gateway, name=GATEWAY_APP, route_prefix="/")


def undeploy_model(model: str) -> list[str]:
    """Delete every ``model@tier`` application of ``model``; returns the tiers it was on."""
    removed = []
    for name in list(serve.status().applications):
        parsed = parse_app_name(name)
        if parsed and parsed[0] == model:
            serve.delete(name)
            removed.append(parsed[1])
    return sorted(removed)


def status() -> dict[str, Any]:
    """Applications, their deployments and replica states, per tier."""
    out: dict[str, Any] = {"gateway": None, "deployments": []}
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    out["nodes"] = [
        {"node_id": n["NodeID"], "tiers": sorted(k[5:] for k in n.get("Resources", {}) if k.startswith("tier:"))}
        for n in nodes
    ]
    for name, app in serve.status().applications.items():
        replicas: dict[str, int] = {}
        for dep in app.deployments.values():
            for state, count in dep.replica_states.items():
                state_name = str(state).split(".")[-1]  # ReplicaState.RUNNING -> RUNNING
                replicas[state_name] = replicas.get(state_name, 0) + count
        entry = {"app": name, "status": str(app.status).split(".")[-1], "replicas": replicas}
        parsed = parse_app_name(name)
        if parsed:
            entry["model"], entry["tier"] = parsed
            out["deployments"].append(entry)
        elif name == GATEWAY_APP:
            out["gateway"] = entry
    return out


def up(
    settings: Settings,
    *,
    placements: dict[str, list[str]] | None = None,
    start_cluster: bool = True,
    wait_ready: Callable[[], None] | None = None,
    progress: Callable[[str], None] = lambda _msg: None,
) -> dict[str, list[str]]:
    """Start (or join) the cluster, deploy the models on their tiers, then the gateway. Returns the placements."""
    apply_ray_env()
    topology = load_topology(settings.topology_path)
    catalog = load_catalog(settings.models_dir)
    if placements is None:
        placements = {m: list(topology.tier_names) for m in catalog.names()}
    _check_placements(placements, catalog, topology)
    address = settings.ray_address or "auto"
    if not connect(address):
        if not start_cluster or settings.ray_address:
            raise NotReady(f"no Ray cluster at {address!r}")
        progress("starting a local Ray node with every tier's resource")
        start_local_cluster(topology, load_layout(settings.layout_path, topology.tier_names))
        if not connect("auto"):
            raise NotReady("started Ray but could not connect to it")
    start_serve(settings)
    progress(f"deploying {sum(len(t) for t in placements.values())} model@tier deployments")
    deploy_models(settings, placements)
    progress("deploying the gateway")
    deploy_gateway(settings)
    if wait_ready is not None:
        wait_ready()
    return placements


def down(stop_cluster: bool = True) -> None:
    """Shut Serve down and stop the local Ray node (no leftover processes)."""
    if connect("auto"):
        try:
            serve.shutdown()
        finally:
            ray.shutdown()
    if stop_cluster:
        subprocess.run([_ray_cli(), "stop", "--force"], capture_output=True, text=True, timeout=120)
