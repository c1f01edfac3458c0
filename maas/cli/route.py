"""``maas route explain``: why a request would go where it goes (tier estimates, feasibility, ranking).

Mount with ``app.add_typer(route.app, name="route")``.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated

import typer

from maas.cli.common import EXIT_USAGE, fail
from maas.cli.when import moment_s
from maas.errors import ConfigError, MaasError
from maas.tables import Col, View, check_output, render, scaled, text

__all__ = ["app", "explain_route", "explain_view"]

app = typer.Typer(help="Routing tools.", add_completion=False, no_args_is_help=True)

_TOPOLOGY = Path("cluster/topology.yaml")
_MODELS_DIR = Path("models/build")


def _host_ms(model: str, precision: str, models_dir: Path, default_ms: float | None) -> float:
    """``--host-ms``, else the validated manifest's profile for the tier's variant, else 1 ms (no manifest)."""
    if default_ms is not None:
        return default_ms
    from maas.models.catalog import read_manifest

    path = models_dir / model / "manifest.json"
    if not path.exists():
        return 1.0
    host = read_manifest(path).host_ms(precision)
    return 1.0 if host is None else host


def explain_route(*, topology_file: Path, model: str, site: str | None, objective: str, deadline_ms: float | None,
                  strict: bool, at_s: float | None, policy_name: str, host_ms: float | None, input_bytes: int,
                  output_bytes: int, models_dir: Path) -> dict:
    """Estimates for every tier at ``at_s`` (idle queues) and the policy's decision with its reasons."""
    from maas.clock import ManualClock
    from maas.routing import RouteRequest, build_policy, views_from_estimates
    from maas.tiers import World, load_topology

    topo = load_topology(topology_file)
    site = site or topo.default_site
    try:
        topo.site(site)
    except KeyError:
        raise ConfigError(str(topology_file), "site", f"unknown site {site!r}", f"e.g. {topo.default_site}") from None
    t_s = at_s if at_s is not None else topo.epoch_s
    world = World(topo, ManualClock(t_s), 0)
    estimates, hosts = {}, {}
    for tier in topo.tier_names:
        precision = topo.tiers[tier].precision
        hosts[tier] = _host_ms(model, precision, models_dir, host_ms)
        estimates[tier] = world.estimate(site, tier, host_compute_ms=hosts[tier], precision=precision,
                                         input_bytes=input_bytes, output_bytes=output_bytes, t_s=t_s)
    kinds = {t: s.kind for t, s in topo.tiers.items()}
    views = views_from_estimates(estimates, {}, now_s=t_s, platform_ms=1.0, kinds=kinds)
    policy = build_policy(policy_name)
    req = RouteRequest(model=model, site=site, objective=objective, deadline_ms=deadline_ms, strict=strict,
                       input_bytes=input_bytes, output_bytes=output_bytes)
    decision = policy.decide(req, views)
    out = decision.explain()
    out["policy"] = policy_name
    out["site"] = site
    out["at"] = dt.datetime.fromtimestamp(t_s, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    out["would_503"] = strict and not decision.feasible
    out["tiers"] = {
        v.tier: {
            "available": v.available, "reason": v.reason, "host_ms": hosts[v.tier],
            "uplink_ms": round(v.uplink_ms, 3), "downlink_ms": round(v.downlink_ms, 3),
            "compute_ms": round(v.compute_ms, 3), "network_p99_ms": None if v.network_p99_ms is None else
            round(v.network_p99_ms, 3), "energy_j": round(v.energy_j, 6), "carbon_g": round(v.carbon_g, 9),
        }
        for v in views
    }
    return out


@app.callback()
def route() -> None:
    """Routing tools."""


@app.command("explain")
def explain(
    model: Annotated[str, typer.Option("--model", help="model name")],
    site: Annotated[str | None, typer.Option("--site", help="SME site (default: the topology's default site)")] = None,
    objective: Annotated[str, typer.Option("--objective", help="latency, energy, carbon or balanced")] = "latency",
    deadline_ms: Annotated[float | None, typer.Option("--deadline-ms", help="deadline in ms (> 0)")] = None,
    strict: Annotated[bool, typer.Option("--strict", help="strict deadline: 503 when no tier is feasible")] = False,
    at: Annotated[str | None, typer.Option("--at", help="ISO-8601 UTC time (default: now)")] = None,
    policy: Annotated[str, typer.Option("--policy", help="routing policy name")] = "edge-aware",
    host_ms: Annotated[float | None, typer.Option("--host-ms", help="host compute ms (default: model manifest)")] = None,
    input_bytes: Annotated[int, typer.Option("--input-bytes")] = 1024,
    output_bytes: Annotated[int, typer.Option("--output-bytes")] = 256,
    topology: Annotated[Path, typer.Option("--topology", help="topology YAML")] = _TOPOLOGY,
    models_dir: Annotated[Path, typer.Option("--models-dir", help="built model manifests")] = _MODELS_DIR,
    output: Annotated[str, typer.Option("-o", "--output", help="table (fits the width), wide, json or csv")] = "table",
) -> None:
    """Show the tier estimates for a request and the policy's ranking with the reason for each tier."""
    from maas.routing import OBJECTIVES

    if objective not in OBJECTIVES:
        raise fail(f"--objective: unknown value {objective!r} (allowed: {', '.join(OBJECTIVES)})", EXIT_USAGE)
    if deadline_ms is not None and deadline_ms <= 0:
        raise fail(f"--deadline-ms: {deadline_ms} is not > 0 (allowed: > 0)", EXIT_USAGE)
    if (problem := check_output(output)) is not None:
        raise fail(problem, EXIT_USAGE)
    at_s = moment_s(at, "--at")
    try:
        result = explain_route(topology_file=topology, model=model, site=site, objective=objective,
                               deadline_ms=deadline_ms, strict=strict, at_s=at_s, policy_name=policy,
                               host_ms=host_ms, input_bytes=input_bytes, output_bytes=output_bytes,
                               models_dir=models_dir)
    except (ConfigError, MaasError) as exc:
        raise fail(exc.message, EXIT_USAGE) from None
    except ValueError as exc:  # unknown policy
        raise fail(f"--policy: {exc}", EXIT_USAGE) from None
    if output == "json":
        typer.echo(json.dumps(result, indent=2))
        return
    render(explain_view(result, model, policy, objective), output)
    if output in ("table", "wide"):
        verdict = "feasible" if result["feasible"] else ("503 (strict)" if result["would_503"] else "best effort")
        typer.echo(f"decision: {result['ranking'][0] if result['ranking'] else '-'} ({verdict})")


def explain_view(result: dict, model: str, policy: str, objective: str) -> View:
    """The ranking as a table: one row per tier, best first, with the estimates and why a tier is not feasible."""
    rows = [{"rank": i, "tier": tier, "expected_ms": result["expected_ms"].get(tier),
             "why": result["reasons"].get(tier, "feasible"), **result["tiers"][tier]}
            for i, tier in enumerate(result["ranking"], 1)]
    cols = [
        Col("rank", fmt=text),
        Col("tier", fmt=text, left=True),
        Col("expected", "expected_ms", unit="ms"),
        Col("net p99", "network_p99_ms", unit="ms", priority=2),
        Col("energy", "energy_j", unit="J/req"),
        Col("carbon", "carbon_g", unit="mg CO2/req", fmt=scaled(1e3), priority=3),
        Col("uplink", "uplink_ms", unit="ms", priority=4),
        Col("compute", "compute_ms", unit="ms", priority=4),
        Col("downlink", "downlink_ms", unit="ms", priority=4),
        Col("why not", "why", fmt=text, left=True, priority=1),
    ]
    return View(f"{model} from {result['site']} at {result['at']} ({policy}, {objective})", cols, rows)
