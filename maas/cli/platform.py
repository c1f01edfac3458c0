"""Operator commands: ``maas up``, ``down``, ``run``, ``status``, ``deploy``, ``undeploy``.

They import the Ray layer lazily, after the Ray environment is applied, so ``maas --help`` stays fast. Which
cluster they talk to is ``maas.serving.platform.attach``'s choice: a stale Ray address is reported and replaced by
a fresh local cluster (``up``/``run``), a dead ``MAAS_RAY_ADDRESS`` exits 1. ``down`` stops only the cluster
``up`` started.
"""

from __future__ import annotations

import json
import signal
import sys
import time
from pathlib import Path

import typer

from maas.cli.common import EXIT_ERROR, EXIT_USAGE, errors_to_exit, fail, settings_from
from maas.serving.readiness import wait_until_serving
from maas.settings import Settings

__all__ = ["register"]

ConfigOpt = typer.Option(None, "--config", "-c", help="Settings file (YAML); env MAAS_* and flags override it.")
HostOpt = typer.Option(None, "--host", help="HTTP bind address (default 127.0.0.1).")
PortOpt = typer.Option(None, "--port", help="HTTP port (default 8000).")
GrpcPortOpt = typer.Option(None, "--grpc-port", help="gRPC (Open Inference Protocol) port (default 8001; 0: off).")


def _serving():
    from maas.serving.ray_env import apply_ray_env

    apply_ray_env()
    from maas.serving import platform

    return platform


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _endpoints(settings: Settings) -> str:
    """Where the API answers: the V2 REST URL, and the gRPC address when it is on."""
    rest = f"V2 API on http://{settings.host}:{settings.port}"
    return rest + (f", gRPC on {settings.host}:{settings.grpc_port}" if settings.grpc_port else "")


def _cluster(settings: Settings):
    """Which cluster to use, decided (and anything stale reported) before the Ray layer is even imported."""
    from maas.serving.cluster_record import choose_cluster_for

    with errors_to_exit():  # a dead MAAS_RAY_ADDRESS exits 1, a malformed one 2
        return choose_cluster_for(settings, _say)


def _parse_tiers(raw: str | None) -> list[str] | None:
    if raw is None:
        return None
    tiers = [t.strip() for t in raw.split(",") if t.strip()]
    if not tiers:
        raise fail("--tiers: give at least one tier name", EXIT_USAGE)
    return tiers


def _bring_up(settings: Settings, models: str | None, tiers: str | None, start_cluster: bool) -> dict:
    choice = _cluster(settings)
    platform = _serving()
    from maas.models import load_catalog
    from maas.tiers import load_topology

    with errors_to_exit():
        catalog = load_catalog(settings.models_dir)
        topology = load_topology(settings.topology_path)
        model_names = [m.strip() for m in models.split(",")] if models else catalog.names()
        tier_names = _parse_tiers(tiers) or list(topology.tier_names)
        placements = {m: list(tier_names) for m in model_names}
        return platform.up(
            settings,
            placements=placements,
            start_cluster=start_cluster,
            wait_ready=lambda: wait_until_serving(settings, placements),
            progress=_say,
            choice=choice,
            restore=models is None and tiers is None,  # pushed models come back too, unless --models/--tiers chose
        )


def up(
    config: Path | None = ConfigOpt,
    host: str | None = HostOpt,
    port: int | None = PortOpt,
    grpc_port: int | None = GrpcPortOpt,
    models: str | None = typer.Option(None, help="Comma-separated models (default: every built model)."),
    tiers: str | None = typer.Option(None, help="Comma-separated tiers (default: all four)."),
    start_cluster: bool = typer.Option(True, help="Start a local Ray node if none is running."),
) -> None:
    """Start the local cluster, deploy the models on every tier, return when the API answers."""
    settings = settings_from(config, host=host, port=port, grpc_port=grpc_port)
    placements = _bring_up(settings, models, tiers, start_cluster)
    n = sum(len(t) for t in placements.values())
    _say(f"maas is up: {n} model@tier deployments, {_endpoints(settings)}")


def down(
    config: Path | None = ConfigOpt,
    keep_cluster: bool = typer.Option(False, help="Remove the deployments but leave Ray running."),
) -> None:
    """Shut the platform down and stop the Ray node `maas up` started (no other Ray on the host)."""
    settings = settings_from(config)
    choice = _cluster(settings)
    with errors_to_exit():
        _serving().down(settings, stop_cluster=not keep_cluster, progress=_say, choice=choice)
    _say("maas is down")


def run(
    config: Path | None = ConfigOpt,
    host: str | None = HostOpt,
    port: int | None = PortOpt,
    grpc_port: int | None = GrpcPortOpt,
    models: str | None = typer.Option(None, help="Comma-separated models (default: every built model)."),
    tiers: str | None = typer.Option(None, help="Comma-separated tiers (default: all four)."),
) -> None:
    """``up``, serve until Ctrl-C or SIGTERM, then ``down`` (what ``make run`` does)."""
    settings = settings_from(config, host=host, port=port, grpc_port=grpc_port)
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    try:
        _bring_up(settings, models, tiers, start_cluster=True)
        _say(f"serving: {_endpoints(settings)} (Ctrl-C to stop)")
        received = signal.sigwait({signal.SIGINT, signal.SIGTERM})
        _say(f"received {signal.Signals(received).name}, shutting down")
    finally:
        with errors_to_exit():
            _serving().down(settings, stop_cluster=True, progress=_say, choice=_cluster(settings))
        _say("maas is down")


def _attached(settings: Settings):
    """The Ray layer, connected to the running platform's cluster; exit 1 when none answers."""
    choice = _cluster(settings)
    if choice.address is None:
        raise fail("the platform is not running (start it with `maas up`)", EXIT_ERROR)
    platform = _serving()
    with errors_to_exit():
        platform.attach(settings, _say, choice)
    return platform


def status(
    output: str = typer.Option("table", "-o", "--output", help="table or json"),
    config: Path | None = ConfigOpt,
) -> None:
    """Tiers, deployments, replicas and health."""
    if output not in ("table", "json"):
        raise fail(f"--output: {output!r} is not allowed (allowed: table, json)", EXIT_USAGE)
    settings = settings_from(config)
    info = _attached(settings).status()
    from maas.cli.tiers_faults import active_faults_local, fault_lines  # rehearsed faults (maas tiers fail)

    now_s = time.time()
    info["faults"] = active_faults_local(settings, now_s)
    if output == "json":
        print(json.dumps(info, indent=2))
        return
    from rich.console import Console

    from maas.tables import Col, View, render, text

    console = Console()
    gw = info["gateway"]
    console.print(f"gateway: {gw['status'] if gw else 'not deployed'}")
    render(View(None, [Col("model", fmt=text, left=True), Col("tier", fmt=text, left=True),
                       Col("status", fmt=text, left=True),
                       Col("replicas", fmt=lambda r: ", ".join(f"{k}={v}" for k, v in r.items()), left=True,
                           wrap=True)],
                sorted(info["deployments"], key=lambda d: (d["model"], d["tier"]))))
    for node in info["nodes"]:
        console.print(f"node {node['node_id'][:12]}: tiers {', '.join(node['tiers']) or '-'}")
    for line in fault_lines(info["faults"], now_s) or ["faults: none (maas tiers fail TIER --for 60s rehearses one)"]:
        console.print(line, highlight=False)


def deploy(
    model: str = typer.Argument(..., help="NAME or NAME:VERSION from the registry (default: its newest version)."),
    tiers: str = typer.Option(..., "--tiers", help="Comma-separated tiers to deploy on."),
    canary: int | None = typer.Option(
        None,
        "--canary",
        help="Send PCT percent (1-99) of traffic to this version "
        "once it is ready on every tier; the stable version keeps the rest.",
    ),
    auto_rollback: bool = typer.Option(
        False,
        "--auto-rollback",
        help="Roll the canary back when its error rate or deadline attainment is worse than the stable version's.",
    ),
    config: Path | None = ConfigOpt,
) -> None:
    """Deploy MODEL[:V] on the given tiers of the running platform (a canary with --canary)."""
    from maas.cli.rollout import run_deploy

    run_deploy(settings_from(config), model, _parse_tiers(tiers) or [], canary, auto_rollback, _attached)


def undeploy(
    model: str = typer.Argument(..., help="Model to remove from every tier."),
    config: Path | None = ConfigOpt,
) -> None:
    """Remove MODEL from every tier."""
    settings = settings_from(config)
    removed = _attached(settings).undeploy_model(model, settings)
    if not removed:
        raise fail(f"model {model!r} is not deployed", EXIT_USAGE)
    _say(f"undeployed {model} from {', '.join(removed)}")


def register(app: typer.Typer) -> None:
    for command in (up, down, run, status, deploy, undeploy):
        app.command()(command)
