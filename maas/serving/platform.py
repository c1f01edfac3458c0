"""Start, deploy, inspect and stop the platform on Ray: what ``maas up/down/status/deploy/undeploy`` call.

Embedded default: one local Ray node (``ray start --head``) that carries every tier's custom resource
(``tier:<name>``); ``up`` records it (``maas.serving.cluster_record``) and ``down`` stops exactly its processes,
never another Ray on the host. Which cluster to use is decided before Ray is touched, so a stale address is found
in seconds (``maas.serving.ray_address``). Multi-node: each tier's nodes are started with ``ray start --address ... --resources
'{"tier:<name>": N}'`` and ``up(..., start_cluster=False)`` deploys onto them; every ``model@tier`` deployment asks
for one unit of its tier's resource, so its replicas can only land on that tier's nodes.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ray
from ray import serve

from maas.api.service import prepare_service
from maas.clock import WallClock
from maas.errors import ConfigError, NotReady
from maas.models import Catalog
from maas.registry import open_registry, register_built
from maas.serving.cluster_record import (
    ClusterRecord,
    choose_cluster_for,
    load_record,
    record_path,
    remove_record,
    save_record,
    stop_recorded_cluster,
)
from maas.serving.gateway import Gateway
from maas.serving.layout import RayLayout, load_layout
from maas.serving.limit_authority import stop_limit_authority
from maas.serving.model_control import undeploy
from maas.serving.ray_address import (
    ADDRESS_FILE,
    ClusterChoice,
    free_local_port,
    gcs_answers,
    gcs_host_port,
    local_port_free,
    ray_temp_dir,
    read_address_file,
)
from maas.serving.ray_env import apply_ray_env
from maas.serving.ray_processes import cluster_processes, list_processes, run_unblocked, session_dir_of_gcs
from maas.serving.rollout_control import deploy_versions, recorded_placements, tier_app
from maas.serving.tier_deployment import parse_versioned_app_name
from maas.settings import Settings
from maas.tiers import Topology, load_topology

__all__ = [
    "GATEWAY_APP",
    "start_local_cluster",
    "connect",
    "attach",
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
DEFAULT_GCS_PORT = 6379
Progress = Callable[[str], None]


def _ray_cli() -> str:
    found = shutil.which("ray", path=str(Path(sys.executable).parent)) or shutil.which("ray")
    if not found:
        raise NotReady("the `ray` command is not installed in this environment")
    return found


def _head_command(topology: Topology, layout: RayLayout) -> list[str]:
    resources = {spec.ray_resource: layout.embedded.tier_units for spec in topology.tiers.values()}
    cmd = [
        _ray_cli(),
        "start",
        "--head",
        "--include-dashboard=false",
        "--disable-usage-stats",
        f"--resources={json.dumps(resources)}",
    ]
    if layout.embedded.num_cpus is not None:
        cmd.append(f"--num-cpus={layout.embedded.num_cpus}")
    if not local_port_free(DEFAULT_GCS_PORT):
        # another cluster holds the default ports: let Ray pick the GCS port and move the other fixed listeners
        cmd += ["--port=0", f"--ray-client-server-port={free_local_port()}",
                f"--dashboard-agent-listen-port={free_local_port()}"]
    return cmd


def start_local_cluster(topology: Topology, layout: RayLayout, settings: Settings) -> ClusterRecord:
    """``ray start --head`` with every tier's resource on this node (the embedded default), recorded in
    ``<data_dir>/ray-cluster.json`` (GCS address, session dir, processes) for ``down``."""
    env = apply_ray_env(dict(os.environ))
    proc = run_unblocked(_head_command(topology, layout), env, timeout_s=180)
    if proc.returncode != 0:
        raise NotReady(f"`ray start --head` failed: {proc.stderr.strip()[-2000:]}")
    temp_dir = ray_temp_dir(env)
    printed = re.search(r"--address='([^']+)'", proc.stdout)
    address = printed.group(1) if printed else read_address_file(temp_dir)
    if address is None:
        raise NotReady(f"`ray start --head` succeeded but printed no address and wrote no {temp_dir / ADDRESS_FILE}")
    processes = list_processes()
    session_dir = session_dir_of_gcs(processes, gcs_host_port(address)[1])
    record = ClusterRecord(
        gcs_address=address,
        session_dir=session_dir,
        ray_temp_dir=str(temp_dir),
        started_at=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        processes=cluster_processes(processes, session_dir) if session_dir else [],
    )
    save_record(settings.data_dir, record)
    return record


def connect(address: str) -> None:
    """Connect this process to the cluster at ``address`` (one whose GCS answered)."""
    if ray.is_initialized():
        return
    try:
        ray.init(address=address, namespace="serve", logging_level=logging.WARNING, log_to_driver=False)
    except ConnectionError as exc:
        raise NotReady(f"cannot connect to the Ray cluster at {address}: {exc}") from None


def attach(
    settings: Settings, progress: Progress = lambda _msg: None, choice: ClusterChoice | None = None
) -> ClusterChoice:
    """Connect to the cluster to use (``choice``, else ``choose_cluster_for(settings)``, which reports what was
    stale), if one answers. The returned ``address`` is None when none runs."""
    if choice is None:
        choice = choose_cluster_for(settings, progress)
    if choice.address is not None:
        connect(choice.address)
    return choice


def start_serve(settings: Settings) -> None:
    serve.start(
        http_options={"host": settings.host, "port": settings.port},
        logging_config={"enable_access_log": settings.access_log, "log_level": "WARNING"},
    )


def registered_catalog(settings: Settings, progress: Progress = lambda _msg: None) -> Catalog:
    """The registry's catalog (one catalog for built and pushed models); the models ``make models`` built under
    ``settings.models_dir`` are registered first (idempotent: same bytes, nothing changes)."""
    registry = open_registry(settings)
    try:
        if Path(settings.models_dir).is_dir():
            for result in register_built(registry, settings.models_dir):
                if result.created:
                    progress(result.message)
        return registry.catalog()
    finally:
        registry.engine.dispose()


def _check_placements(placements: dict[str, list[str]], catalog: Catalog, topology: Topology) -> None:
    for ref, tiers in placements.items():
        model, _, version = ref.partition(":")
        catalog.get(model, version or None)  # ModelNotFound lists the known models / versions
        for tier in tiers:
            if tier not in topology.tiers:
                raise ConfigError("--tiers", tier, "is not a tier", ", ".join(topology.tier_names))


def deploy_models(settings: Settings, placements: dict[str, list[str]], *, uplink: bool = False,
                  restart: bool = False, progress: Progress = lambda _msg: None) -> None:
    """Deploy every ``model[:version]`` (default: its newest registered version) on its tiers at once, as the
    stable version of its rollout, and wait until they are RUNNING and routed (``maas.serving.rollout_control``).
    ``uplink`` False (``maas up``): versions on a satellite tier count as loaded before launch. ``restart``:
    models with a recorded rollout get it back (see ``deploy_versions``)."""
    catalog = registered_catalog(settings, progress)
    topology = load_topology(settings.topology_path)
    _check_placements(placements, catalog, topology)
    wanted = {}
    for ref, tiers in placements.items():
        model, _, version = ref.partition(":")
        wanted[model] = (int(version) if version else None, list(tiers))
    if wanted:
        deploy_versions(settings, wanted, uplink=uplink, restart=restart, progress=progress)


def deploy_gateway(settings: Settings, name: str = GATEWAY_APP, route_prefix: str = "/") -> None:
    """The gateway application (``make bench`` adds a second one, over Ray only, under another name and prefix).
    Only ``GATEWAY_APP`` serves gRPC: another gateway app's replicas would share its port (SO_REUSEPORT) and take
    a share of its connections."""
    if name != GATEWAY_APP:
        settings = settings.model_copy(update={"grpc_port": 0})
    gateway = Gateway.options(
        num_replicas=settings.gateway_replicas,
        ray_actor_options={"num_cpus": 0},
        max_ongoing_requests=settings.gateway_max_ongoing_requests,
    ).bind(settings.model_dump(mode="json"))
    serve.run(gateway, name=name, route_prefix=route_prefix)


def _check_grpc_port(settings: Settings, serve_running: bool = True) -> None:
    """``NotReady`` when something already accepts connections on the gRPC port here and it is not our gateway:
    grpc binds with SO_REUSEPORT, so a second server (another maas, a Triton) would silently share the port."""
    if not settings.grpc_port or (serve_running and GATEWAY_APP in serve.status().applications):
        return
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host
    if gcs_answers(f"{host}:{settings.grpc_port}", 0.5):
        raise NotReady(f"the gRPC port {settings.grpc_port} is already taken on {host} (another maas or a Triton?): "
                       "choose another with --grpc-port or MAAS_GRPC_PORT, or 0 for no gRPC endpoint")


def undeploy_model(model: str, settings: Settings | None = None) -> list[str]:
    """Stop routing ``model`` and delete every ``model:version@tier`` application of it; returns its tiers."""
    from maas.settings import load_settings

    return undeploy(settings or load_settings(None), model)


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
        parsed = parse_versioned_app_name(name)
        if parsed:
            entry["model"], entry["version"], entry["tier"] = parsed
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
    choice: ClusterChoice | None = None,
    restore: bool = True,
) -> dict[str, list[str]]:
    """Start (or join) the cluster, deploy the models on their tiers, then the gateway. Returns the placements.

    With ``restore`` (``maas up`` without ``--models``), every other model with a recorded rollout (one pushed and
    deployed by an operator) comes back too, on its recorded tiers and versions. A model of ``placements`` with a
    recorded rollout comes back as recorded (``deploy_versions(restart=True)``), so its entry becomes the recorded
    tiers. ``placements`` is changed in place: a ``wait_ready`` that reads it waits for what is deployed."""
    apply_ray_env()
    topology = load_topology(settings.topology_path)
    catalog = registered_catalog(settings, progress)
    if placements is None:
        placements = {m: list(topology.tier_names) for m in catalog.names()}
    for model, tiers in recorded_placements(settings, topology).items():
        if model in placements:  # no version asked: its recorded rollout comes back, on the recorded tiers
            placements[model] = tiers
        elif restore and model in catalog.names():
            progress(f"restoring {model}'s recorded rollout on {', '.join(tiers)}")
            placements[model] = tiers
    _check_placements(placements, catalog, topology)
    choice = attach(settings, progress, choice)
    if choice.address is None:
        if not start_cluster:
            raise NotReady("no Ray cluster answers (and --no-start-cluster was given)")
        _check_grpc_port(settings, serve_running=False)  # before a cluster is started for nothing
        fresh = "a fresh" if choice.found else "a"
        progress(f"starting {fresh} local Ray node with every tier's resource")
        record = start_local_cluster(topology, load_layout(settings.layout_path, topology.tier_names), settings)
        progress(f"Ray head at {record.gcs_address} (recorded in {record_path(settings.data_dir)})")
        connect(record.gcs_address)
    start_serve(settings)
    _check_grpc_port(settings)  # a joined cluster: our own gateway may hold it already
    prepare_service(settings, WallClock(), progress)
    progress(f"deploying {sum(len(t) for t in placements.values())} model@tier deployments")
    deploy_models(settings, placements, restart=True, progress=progress)  # recorded rollouts come back
    progress("deploying the gateway")
    deploy_gateway(settings)
    if wait_ready is not None:
        wait_ready()
    return placements


def down(
    settings: Settings,
    stop_cluster: bool = True,
    progress: Progress = lambda _msg: None,
    choice: ClusterChoice | None = None,
) -> None:
    """Shut Serve down; with ``stop_cluster``, stop the Ray cluster ``up`` started (its recorded processes and
    their descendants) and nothing else: a cluster the platform only joined keeps running."""
    choice = attach(settings, progress, choice)
    if choice.address is not None:
        try:
            serve.shutdown()
            stop_limit_authority()
        finally:
            ray.shutdown()
    if not stop_cluster:
        return
    record = load_record(settings.data_dir)
    if record is None:
        if choice.address is not None:
            progress(f"left the Ray cluster at {choice.address} running: maas did not start it")
        return
    stop_recorded_cluster(record)
    remove_record(settings.data_dir)
    progress(f"stopped the Ray cluster maas started at {record.gcs_address}")
