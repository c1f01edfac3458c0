"""``maas tiers``: show the tier topology (parameters with their sources, sites) and a site's timeline.

Mount with ``app.add_typer(tiers.app, name="tiers")``. Exit codes: 0 ok, 2 bad input (file/field/allowed named).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer

from maas.cli.common import EXIT_USAGE, fail
from maas.errors import ConfigError, InvalidInput

__all__ = ["app"]

app = typer.Typer(
    help="Tier topology: parameters, sites, satellite contacts, eclipses, batteries, outages.",
    add_completion=False,
    no_args_is_help=True,
)

_DEFAULT = Path("cluster/topology.yaml")
_SITE_LIST_MAX = 50
TopologyOpt = Annotated[Path, typer.Option("--topology", help="topology YAML file")]
OutputOpt = Annotated[str, typer.Option("-o", "--output", help="table or json")]


def _load(path: Path) -> Any:
    from maas.tiers import load_topology

    try:
        return load_topology(path)
    except ConfigError as exc:
        raise fail(exc.message, EXIT_USAGE) from None


def _check_output(output: str) -> None:
    if output not in ("table", "json"):
        raise fail(f"-o/--output: unknown format {output!r} (allowed: table, json)", EXIT_USAGE)


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
    from rich.console import Console
    from rich.table import Table

    console = Console()
    for t in tiers:
        table = Table(title=f"{t['name']}  (precision {t['precision']}, {t['slots']} slots, {t['ray_resource']})")
        for col in ("parameter", "value", "source"):
            table.add_column(col)
        for p in t["parameters"]:
            table.add_row(p["name"], str(p["value"]), p["source"] or "")
        console.print(table)
    st = Table(title=f"sites: {topo.summary['count']} (first {len(sites)} shown)")
    for col in ("name", "lat", "lon", "region", "access", "datacentre"):
        st.add_column(col)
    for s in sites[:10]:
        st.add_row(
            s["name"], f"{s['lat']:.3f}", f"{s['lon']:.3f}", s["region"], ",".join(s["access"]), s["datacentre"] or ""
        )
    console.print(st)
    console.print(f"per region: {topo.summary['per_region']}; per access tier: {topo.summary['per_access_tier']}")


@app.command()
def timeline(
    site: Annotated[str, typer.Option("--site", help="site name")],
    hours: Annotated[float, typer.Option("--hours", help="length of the period in hours")] = 24.0,
    start: Annotated[str | None, typer.Option("--start", help="ISO-8601 UTC start (default: topology epoch)")] = None,
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
    t0 = topo.epoch_s
    if start is not None:
        try:
            t = dt.datetime.fromisoformat(start.replace("Z", "+00:00"))
        except ValueError:
            raise fail(f"--start: not an ISO-8601 time: {start!r} (allowed: e.g. 2026-11-21T00:00:00Z)", EXIT_USAGE) from None
        t0 = (t if t.tzinfo else t.replace(tzinfo=dt.UTC)).timestamp()
    from maas.clock import ManualClock
    from maas.tiers import World
    from maas.tiers.timeline import site_timeline

    try:
        world = World(topo, ManualClock(t0), seed=seed)
        doc = site_timeline(world, site, t0, t0 + hours * 3600.0)
    except (ConfigError, InvalidInput) as exc:
        raise fail(exc.message, EXIT_USAGE) from None
    if plot is not None:
        _write_plot(doc, plot, t0)
    if output == "json":
        typer.echo(json.dumps(_public(doc), indent=2))
        return
    typer.echo(f"site {site}  {doc['start']} .. {doc['end']}")
    typer.echo(
        f"contact windows: {len(doc['windows'])}   eclipses (seen satellites): {len(doc['eclipses'])}   "
        f"grid outages: {len(doc['outages'])}"
    )
    for w in doc["windows"][:20]:
        typer.echo(f"  {w['satellite']:<12} {w['start']} .. {w['end']}  max {w['max_elevation_deg']:5.1f} deg")
    if len(doc["windows"]) > 20:
        typer.echo(f"  ... {len(doc['windows']) - 20} more (use -o json)")
    for o in doc["outages"]:
        typer.echo(f"  outage {o['start']} .. {o['end']}  {o['reason']}")
    if plot is not None:
        typer.echo(f"plot written to {plot}")


def _public(doc: dict) -> dict:
    strip = {"start_s", "end_s", "t_s"}
    return {
        k: ([{a: b for a, b in row.items() if a not in strip} for row in v] if isinstance(v, list) else v)
        for k, v in doc.items()
    }


def _write_plot(doc: dict, path: Path, t0: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sats = sorted({w["satellite"] for w in doc["windows"]})
    row = {s: i for i, s in enumerate(sats)}
    fig, (ax0, ax1, ax2) = plt.subplots(3, 1, figsize=(12, 8), sharex=True, height_ratios=[0.6, 3, 1])
    h = lambda x: (x - t0) / 3600.0  # noqa: E731
    for w in doc["windows"]:
        ax1.barh(row[w["satellite"]], h(w["end_s"]) - h(w["start_s"]), left=h(w["start_s"]), color="tab:blue")
    for e in doc["eclipses"]:
        ax1.barh(
            row[e["satellite"]],
            h(e["end_s"]) - h(e["start_s"]),
            left=h(e["start_s"]),
            color="0.3",
            alpha=0.25,
            height=0.9,
        )
    for o in doc["outages"]:
        ax1.axvspan(h(o["start_s"]), h(o["end_s"]), color="tab:red", alpha=0.2)
    for w in doc["windows"]:  # the site has satellite contact when any satellite is above the mask
        ax0.barh(1, h(w["end_s"]) - h(w["start_s"]), left=h(w["start_s"]), color="tab:green")
    for o in doc["outages"]:
        ax0.barh(0, h(o["end_s"]) - h(o["start_s"]), left=h(o["start_s"]), color="tab:red")
    ax0.set_yticks([0, 1], ["grid outage", "satellite contact"], fontsize=7)
    ax0.set_ylim(-0.6, 1.6)
    ax0.set_title(f"{doc['site']}: contact windows (blue), eclipses (grey), grid outages (red)")
    if len(sats) <= 40:
        ax1.set_yticks(range(len(sats)), sats, fontsize=6)
    else:
        ax1.set_yticks([])
    ax1.set_ylabel(f"{len(sats)} satellites")
    by_sat: dict[str, list[tuple[float, float]]] = {}
    for b in doc["battery"]:
        by_sat.setdefault(b["satellite"], []).append((h(b["t_s"]), b["soc_j"]))
    for pts in by_sat.values():
        ax2.plot([p[0] for p in pts], [p[1] for p in pts], lw=0.5, alpha=0.5)
    ax2.set_ylabel("battery J")
    ax2.set_xlabel(f"hours after {doc['start']}")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".png")
    os.close(fd)
    fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)
    os.replace(tmp, path)


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
