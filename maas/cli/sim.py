"""``maas sim``: run a scenario in virtual time for several policies and the offline oracle.

Mount with ``app.add_typer(sim.app, name="sim")``: the sub-app is a single command (callback).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from maas.cli.common import EXIT_USAGE, fail
from maas.errors import MaasError

__all__ = ["app", "render_table", "write_plot"]

app = typer.Typer(help="Simulate routing policies on a scenario in virtual time.", add_completion=False)

_OUTPUTS = ("table", "json")


def _fmt(v: object, digits: int = 3) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


def render_table(results: dict, scenario: str) -> None:
    """Print the comparison as a rich table (policies as rows, oracle last)."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"maas sim: {scenario}")
    cols = ["policy", "SLO att.", "goodput/s", "p50 ms", "p99 ms", "J/req", "J/success", "gCO2/req", "dropped",
            "dec. p99 us", "top tier"]
    for c in cols:
        table.add_column(c, justify="left" if c in ("policy", "top tier") else "right")
    for name, r in results.items():
        if "skipped" in r:
            table.add_row(name, *(["-"] * (len(cols) - 2)), r["skipped"][:60])
            continue
        rows = [(name, r)]
        if "replayed" in r:
            rows = [("oracle (bound)", r), ("oracle (replayed)", r["replayed"])]
        for label, f in rows:
            share = f.get("tier_share") or {}
            top = max(share, key=share.get) if share else "-"
            table.add_row(label, _fmt(f["slo_attainment"], 4), _fmt(f["goodput_rps"], 1), _fmt(f["p50_ms"], 1),
                          _fmt(f["p99_ms"], 1), _fmt(f["energy_j_per_request"], 4),
                          _fmt(f["energy_j_per_success"], 4), _fmt(f["carbon_g_per_request"], 6),
                          _fmt(f["dropped"]), _fmt(f["decision_us_p99"], 1),
                          f"{top} {share.get(top, 0):.0%}" if share else "-")
    Console().print(table)


def write_plot(results: dict, path: Path, title: str) -> None:
    """The Pareto view: SLO attainment against energy per request, one point per policy and the oracle."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 5))
    xs: list[float] = []
    for name, r in results.items():
        if "skipped" in r:
            continue
        points = [(name, r)] if "replayed" not in r else [("oracle (bound)", r), ("oracle (replayed)", r["replayed"])]
        for label, f in points:
            marker = "*" if label.startswith("oracle") else ("o" if label == "edge-aware" else ".")
            size = 160 if marker != "." else 60
            ax.scatter(f["energy_j_per_request"], f["slo_attainment"], marker=marker, s=size)
            xs.append(f["energy_j_per_request"])
            ax.annotate(label, (f["energy_j_per_request"], f["slo_attainment"]), fontsize=7,
                        xytext=(4, 2), textcoords="offset points")
    positive = [x for x in xs if x > 0]
    if positive and max(positive) > 20 * min(positive):
        ax.set_xscale("log")
    ax.set_xlabel("energy per request (J)")
    ax.set_ylabel("SLO attainment")
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    fd, tmp = tempfile.mkstemp(suffix=".png", dir=str(path.parent))
    os.close(fd)
    try:
        fig.savefig(tmp, format="png", dpi=120)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        plt.close(fig)
        if os.path.exists(tmp):
            os.unlink(tmp)


@app.callback(invoke_without_command=True)
def sim(
    scenario: Annotated[Path, typer.Option("--scenario", help="scenario YAML (see cluster/scenarios/)")],
    policies: Annotated[str, typer.Option(
        "--policies", help="comma-separated policy names, or 'all' (default: the scenario's list)")] = "",
    seed: Annotated[int | None, typer.Option("--seed", help="random seed (default: the scenario's)")] = None,
    output: Annotated[str, typer.Option("-o", "--output", help="table or json")] = "table",
    plot: Annotated[Path | None, typer.Option("--plot", help="write the Pareto plot (PNG) here")] = None,
    bias: Annotated[float | None, typer.Option("--bias", help="bias every latency estimate by this fraction")] = None,
    duration_s: Annotated[float | None, typer.Option("--duration-s", help="override the scenario's duration")] = None,
    oracle: Annotated[bool, typer.Option("--oracle/--no-oracle", help="solve the offline oracle")] = True,
) -> None:
    """Run SCENARIO for each policy on the same trace; print a table or JSON keyed by policy (and ``oracle``)."""
    from maas.sim.runner import prepare, run
    from maas.sim.scenario import load_scenario

    if output not in _OUTPUTS:
        raise fail(f"--output: unknown value {output!r} (allowed: {', '.join(_OUTPUTS)})", EXIT_USAGE)
    if duration_s is not None and duration_s <= 0:
        raise fail(f"--duration-s: {duration_s} is not > 0 (allowed: > 0)", EXIT_USAGE)
    if plot is not None:
        if plot.suffix.lower() != ".png":
            raise fail(f"--plot: {plot} must end in .png (allowed: a .png path)", EXIT_USAGE)
        if not plot.parent.exists():
            raise fail(f"--plot: directory {plot.parent} does not exist", EXIT_USAGE)
    names = [p.strip() for p in policies.split(",") if p.strip()] or None
    try:
        spec = load_scenario(scenario)
        prep = prepare(spec, str(scenario), policies=names, seed=seed, bias=bias, duration_s=duration_s)
        progress = None if output == "json" else (lambda n: print(f"simulating {n} ...", file=sys.stderr))
        results = run(prep, oracle=oracle, progress=progress)
    except MaasError as exc:  # ConfigError included: every platform error here is about the input
        raise fail(exc.message, EXIT_USAGE) from None
    if output == "json":
        typer.echo(json.dumps(results, indent=2, sort_keys=False))
    else:
        render_table(results, spec.name)
    if plot is not None:
        write_plot(results, plot, f"{spec.name}: SLO attainment vs energy")
