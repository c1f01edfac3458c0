"""``maas sim``: run a scenario in virtual time for several policies and the offline oracle.

Mount with ``app.add_typer(sim.app, name="sim")``: the sub-app is a single command (callback).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from maas.cli.common import EXIT_USAGE, fail
from maas.cli.progress import Steps
from maas.errors import MaasError
from maas.tables import Col, View, attainment, check_output, render, scaled, text

__all__ = ["app", "render_table", "sim_view", "write_plot"]

app = typer.Typer(help="Simulate routing policies on a scenario in virtual time.", add_completion=False)

_OUTPUTS = ("table", "wide", "json", "csv")


def _top_tier(f: dict) -> str:
    share = f.get("tier_share") or {}
    if not share:
        return "-"
    top = max(share, key=share.get)
    return f"{top} {share[top]:.0%}"


def sim_view(results: dict, scenario: str) -> View:
    """The comparison as a table: policies as rows (the oracle's bound and replay last), figures by priority."""
    rows: list[dict] = []
    skipped: list[str] = []
    for name, r in results.items():
        if "skipped" in r:
            skipped.append(f"{name} skipped: {r['skipped']}")
            continue
        if "replayed" in r:
            rows += [{"policy": "oracle (bound)", **r}, {"policy": "oracle (replayed)", **r["replayed"]}]
        else:
            rows.append({"policy": name, **r})
    cols = [
        Col("policy", fmt=text, left=True),
        Col("SLO", "slo_attainment", unit="%", fmt=attainment),
        Col("energy", "energy_j_per_request", unit="J/req"),
        Col("carbon", "carbon_g_per_request", unit="mg CO2/req", fmt=scaled(1e3), priority=1),
        Col("p99", "p99_ms", unit="ms"),
        Col("p50", "p50_ms", unit="ms", priority=3),
        Col("goodput", "goodput_rps", unit="req/s", priority=2),
        Col("dropped", "dropped", priority=4),
        Col("energy", "energy_j_per_success", unit="J/success", priority=5),
        Col("decision", "decision_us_p99", unit="p99 us", priority=6),
        Col("top tier", _top_tier, fmt=text, left=True, priority=2),
    ]
    return View(f"maas sim: {scenario}", cols, rows, notes=skipped)


def render_table(results: dict, scenario: str, output: str = "table") -> None:
    """Print the comparison (table fitted to the width, wide, or csv)."""
    render(sim_view(results, scenario), output)


def write_plot(results: dict, path: Path, title: str) -> None:
    """The Pareto view: SLO attainment (miss on a log scale) against energy per request, the oracle, the frontier."""
    from maas.cli.sim_plot import write_pareto

    write_pareto(results, path, title)


@app.callback(invoke_without_command=True)
def sim(
    ctx: typer.Context,
    scenario: Annotated[Path | None, typer.Option("--scenario", help="scenario YAML (see cluster/scenarios/)")] = None,
    policies: Annotated[str, typer.Option(
        "--policies", help="comma-separated policy names, or 'all' (default: the scenario's list)")] = "",
    seed: Annotated[int | None, typer.Option("--seed", help="random seed (default: the scenario's)")] = None,
    output: Annotated[str, typer.Option("-o", "--output", help="table (fits the width), wide, json or csv")] = "table",
    plot: Annotated[Path | None, typer.Option("--plot", help="write the Pareto plot (PNG) here")] = None,
    bias: Annotated[float | None, typer.Option("--bias", help="bias every latency estimate by this fraction")] = None,
    duration_s: Annotated[float | None, typer.Option("--duration-s", help="override the scenario's duration")] = None,
    oracle: Annotated[bool, typer.Option("--oracle/--no-oracle", help="solve the offline oracle")] = True,
    report: Annotated[Path | None, typer.Option(
        "--report", help="write an HTML report here (index.html: Pareto view, tier share over time, latency CDFs, "
        "satellite battery, energy and carbon by tier, the site's timeline)")] = None,
) -> None:
    """Run SCENARIO for each policy on the same trace; print a table or JSON keyed by policy (and ``oracle``)."""
    if ctx.invoked_subcommand is not None:  # maas sim generate | sweep
        return
    from maas.sim.runner import prepare, run
    from maas.sim.scenario import load_scenario

    if scenario is None:
        raise fail("--scenario: missing (allowed: a scenario YAML, e.g. cluster/scenarios/default-city.yaml)",
                   EXIT_USAGE)
    if (problem := check_output(output, _OUTPUTS)) is not None:
        raise fail(problem, EXIT_USAGE)
    if duration_s is not None and duration_s <= 0:
        raise fail(f"--duration-s: {duration_s} is not > 0 (allowed: > 0)", EXIT_USAGE)
    if plot is not None:
        if plot.suffix.lower() != ".png":
            raise fail(f"--plot: {plot} must end in .png (allowed: a .png path)", EXIT_USAGE)
        if not plot.parent.exists():
            raise fail(f"--plot: directory {plot.parent} does not exist", EXIT_USAGE)
    if report is not None:
        from maas.cli.sim_report import report_dir_problem

        if (problem := report_dir_problem(report)) is not None:
            raise fail(problem, EXIT_USAGE)
    names = [p.strip() for p in policies.split(",") if p.strip()] or None
    try:
        spec = load_scenario(scenario)
        prep = prepare(spec, str(scenario), policies=names, seed=seed, bias=bias, duration_s=duration_s)
        records: dict | None = {} if report is not None else None
        steps = len(prep.policies) + (1 if oracle and spec.oracle.enabled else 0)
        with Steps(steps, f"simulating {len(prep.inp.trace):,} requests", enabled=output not in ("json", "csv")) as step:
            results = run(prep, oracle=oracle, progress=step, records=records)
    except MaasError as exc:  # ConfigError included: every platform error here is about the input
        raise fail(exc.message, EXIT_USAGE) from None
    if output == "json":
        typer.echo(json.dumps(results, indent=2, sort_keys=False))
    else:
        render_table(results, spec.name, output)
    if plot is not None:
        write_plot(results, plot, f"{spec.name}: SLO attainment vs energy")
    if report is not None:
        from maas.cli.sim_report import write_report

        page = write_report(report, results, records or {}, prep, spec.name)
        print(f"report: {page}", file=sys.stderr)
