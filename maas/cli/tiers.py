"""``maas tiers``: show the tier topology (parameters with their sources, sites) and a site's timeline.

Mount with ``app.add_typer(tiers.app, name="tiers")``. Exit codes: 0 ok, 2 bad input (file/field/allowed named).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Any

import typer

from maas.cli import tiers_faults
from maas.cli.common import EXIT_USAGE, fail
from maas.cli.when import moment_s
from maas.errors import ConfigError, InvalidInput
from maas.tables import Col, View, check_output, render, text

__all__ = ["app"]

app = typer.Typer(
    help="Tier topology: parameters, sites, satellite contacts, eclipses, batteries, outages.",
    add_completion=False,
    no_args_is_help=True,
)

_DEFAULT = Path("cluster/topology.yaml")
_SITE_LIST_MAX = 50
TopologyOpt = Annotated[Path, typer.Option("--topology", help="topology YAML file")]
OutputOpt = Annotated[str, typer.Option("-o", "--output", help="table (fits the width), wide, json or csv")]


def _load(path: Path) -> Any:
    from maas.tiers import load_topology

    try:
        return load_topology(path)
    except ConfigError as exc:
        raise fail(exc.message, EXIT_USAGE) from None


def _check_output(output: str) -> None:
    if (problem := check_output(output)) is not None:
        raise fail(problem, EXIT_USAGE)


@app.command()
def show(topology: TopologyOpt = _DEFAULT, output: OutputOpt = "table") -> None:
    """The tiers and their parameters with sources, and the sites (summarised when there are many)."""
    _check_output(output)
    topo = _load(topology)
    from maas.tiers.loader import yaml_comments

    sources = yaml_comments(topology)
    tiers = []
    for name, spec in topo.tiers.items():
        params = _flatten(spec.model_dump(exclude={"name", "kind"}))
        tiers.append(
            {
                "name": name,
                "kind": spec.kind,
                "precision": spec.precision,
                "slots": spec.slots,
                "ray_resource": spec.ray_resource,
                "parameters": [
                    {"name": k, "value": v, "source": sources.get(f"tiers.{name}.{k}")} for k, v in params.items()
                ],
            }
        )
    sites = [_site_json(topo, s) for s in topo.sites(limit=_SITE_LIST_MAX)]
    doc = {
        "file": str(topology),
        "tiers": tiers,
        "sites": sites,
        "sites_shown": len(sites),
        "sites_summary": topo.summary,
        "default_site": topo.default_site,
    }
    if output == "json":
        typer.echo(json.dumps(doc, indent=2))
        return
    if output == "csv":
        rows = [{"tier": t["name"], **p} for t in tiers for p in t["parameters"]]
        render(View(None, [Col("tier"), Col("parameter", "name"), Col("value"), Col("source")], rows), "csv")
        return
    for t in tiers:
        render(View(f"{t['name']}  (precision {t['precision']}, {t['slots']} slots, {t['ray_resource']})", [
            Col("parameter", "name", fmt=text, left=True),
            Col("value", fmt=text, left=True, wrap=True),
            Col("source", fmt=lambda v: v or "", left=True, priority=1, wrap=True),
        ], t["parameters"]), output)
        typer.echo("")
    render(View(f"sites: {topo.summary['count']} (first {min(len(sites), 10)} shown)", [
        Col("name", fmt=text, left=True),
        Col("lat", unit="deg", fmt=lambda v: f"{v:.3f}"),
        Col("lon", unit="deg", fmt=lambda v: f"{v:.3f}"),
        Col("region", fmt=text, left=True),
        Col("access", fmt=",".join, left=True, priority=1),
        Col("datacentre", fmt=lambda v: v or "", left=True, priority=2),
    ], sites[:10], notes=[f"per region: {topo.summary['per_region']}",
                          f"per access tier: {topo.summary['per_access_tier']}"]), output)


@app.command()
def timeline(
    site: Annotated[str, typer.Option("--site", help="site name")],
    hours: Annotated[float, typer.Option("--hours", help="length of the period in hours")] = 24.0,
    at: Annotated[str | None, typer.Option("--at", "--start", help="ISO-8601 UTC start (default: now)")] = None,
    topology: TopologyOpt = _DEFAULT,
    output: OutputOpt = "table",
    plot: Annotated[Path | None, typer.Option("--plot", help="write a PNG of the timeline")] = None,
    seed: Annotated[int, typer.Option("--seed", help="seed of stochastic outages")] = 0,
) -> None:
    """Contact windows per satellite, eclipses, battery state of charge and grid outages at one site."""
    _check_output(output)
    if not (0 < hours <= 24 * 14) or math.isnan(hours):
        raise fail(f"--hours: {hours} is out of range (allowed: 0 < hours <= 336)", EXIT_USAGE)
    topo = _load(topology)
    if site not in set(topo.site_names):
        raise fail(f"--site: unknown site {site!r} (allowed: a site of {topology}, e.g. {topo.default_site})", EXIT_USAGE)
    t0 = moment_s(at, "--at")
    from maas.clock import ManualClock
    from maas.tiers import World
    from maas.tiers.timeline import site_timeline

    try:
        world = World(topo, ManualClock(t0), seed=seed)
        doc = site_timeline(world, site, t0, t0 + hours * 3600.0)
    except (ConfigError, InvalidInput) as exc:
        raise fail(exc.message, EXIT_USAGE) from None
    if plot is not None:
        from maas.cli.tiers_plot import write_timeline

        write_timeline(doc, plot, t0)
    if output == "json":
        typer.echo(json.dumps(_public(doc), indent=2))
        return
    window_cols = [
        Col("satellite", fmt=text, left=True),
        Col("start", fmt=text, left=True),
        Col("end", fmt=text, left=True),
        Col("max elevation", "max_elevation_deg", unit="deg"),
    ]
    if output == "csv":
        render(View(None, window_cols, doc["windows"]), "csv")
        return
    typer.echo(f"site {site}  {doc['start']} .. {doc['end']}")
    typer.echo(
        f"contact windows: {len(doc['windows'])}   eclipses (seen satellites): {len(doc['eclipses'])}   "
        f"grid outages: {len(doc['outages'])}"
    )
    shown = doc["windows"] if output == "wide" else doc["windows"][:20]
    more = len(doc["windows"]) - len(shown)
    render(View("contact windows", window_cols, shown,
                notes=[f"... {more} more (-o wide, -o csv or -o json)"] if more else []), output)
    if doc["outages"]:
        render(View("grid outages", [Col("start", fmt=text, left=True), Col("end", fmt=text, left=True),
                                     Col("reason", fmt=text, left=True, wrap=True)], doc["outages"]), output)
    if plot is not None:
        typer.echo(f"plot written to {plot}")


def _public(doc: dict) -> dict:
    strip = {"start_s", "end_s", "t_s"}
    return {
        k: ([{a: b for a, b in row.items() if a not in strip} for row in v] if isinstance(v, list) else v)
        for k, v in doc.items()
    }


def _flatten(d: dict, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flatten(v, key + "."))
        else:
            out[key] = v
    return out


def _site_json(topo: Any, s: Any) -> dict:
    return {
        "name": s.name,
        "lat": s.lat_deg,
        "lon": s.lon_deg,
        "region": s.region,
        "access": list(s.access),
        "cell": s.cell,
        "datacentre": s.datacentre,
    }


tiers_faults.register(app)  # maas tiers fail|restore|faults: rehearsed faults on the live platform
