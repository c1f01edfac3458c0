"""``maas sim-live``: run a scenario live against a platform and in virtual time, and compare (issue 4 target).

Mount with ``app.add_typer(sim_live.app, name="sim-live")``: the sub-app is a single command (callback).
Exit codes: 0 within both targets, 1 outside them (or the platform failed), 2 bad input.
With batching (issue 13): a scenario whose topology batches (``cluster/scenarios/sim-to-real-batching.yaml``) is
checked against a platform started on that topology (``MAAS_TOPOLOGY_PATH=cluster/topology-batching.yaml``); the
check measures each pair's batch profile live and simulates the same batchers.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from maas.cli.common import EXIT_USAGE, errors_to_exit, fail

__all__ = ["app", "render_report", "render_divergence"]

app = typer.Typer(help="Sim-to-real: the same scenario live (open-loop replay) and in virtual time.",
                  add_completion=False)

_OUTPUTS = ("table", "json")


def render_report(report: dict[str, Any]) -> None:
    """Print the comparison as a table (maas.tables): attainment and each tier's share, sim vs live, with the verdict."""
    from rich.console import Console

    from maas.tables import Col, View, render, text

    c = report["comparison"]
    cal = report["calibration"]
    a = c["slo_attainment"]
    rows = [{"figure": "SLO attainment", "sim": f"{a['sim']:.4f}", "live": f"{a['live']:.4f}",
             "diff": a["diff_points"], "target": f"<= {a['target_points']:g}", "ok": a["within"]}]
    for tier, d in c["tier_share"].items():
        rows.append({"figure": f"share {tier}", "sim": f"{d['sim']:.3f}", "live": f"{d['live']:.3f}",
                     "diff": d["diff_points"], "target": f"<= {c['tier_share_target_points']:g}",
                     "ok": d["diff_points"] <= c["tier_share_target_points"]})
    live, sim = report["live"], report["sim"]
    rows.append({"figure": "p50 / p99 ms", "sim": f"{sim['p50_ms']} / {sim['p99_ms']}",
                 "live": f"{live['p50_ms']} / {live['p99_ms']}", "diff": None, "target": "", "ok": None})
    render(View(f"maas sim-live: {report['scenario']} ({report['requests']} requests, policy {report['policy']}, "
                f"overhead {cal['platform_ms']} + {cal['ingress_ms']} ms)", [
        Col("figure", fmt=text, left=True), Col("sim", fmt=text), Col("live", fmt=text),
        Col("diff", unit="points"), Col("target", unit="points", fmt=text),
        Col("ok", fmt=lambda v: "" if v is None else ("yes" if v else "NO"))], rows))
    console = Console(soft_wrap=True)  # long lines stay whole (logs, grep)
    console.print(f"live: {live['answered']}/{live['requests']} answered, platform-reported attainment "
                  f"{live['platform_slo_attainment']:.4f}; same trace: {report['same_trace']}; "
                  f"epoch {report['epoch']}")
    batching = report.get("batching") or {}
    if batching.get("profile_ms"):
        sizes = batching["requests_by_batch_size"]
        console.print(f"batching: requests per batch size live {sizes['live']}, sim {sizes['sim']}")
    moved = report.get("decisions")
    if moved:
        console.print(f"decisions: {moved['routed_differently']} of {moved['answered_both']} requests answered on both "
                      f"sides went to another tier ({_moves(moved['moves_live_to_sim'])})")
    for d in report.get("divergences", []):
        render_divergence(d, console)
    console.print("PASS: within both targets" if c["passed"] else "FAIL: outside a target")


def _moves(moves: dict[str, int]) -> str:
    return ", ".join(f"live {k.replace(' -> ', ', sim ')}: {v}" for k, v in list(moves.items())[:4]) or "none"


def _tier_line(name: str, row: dict[str, Any] | None) -> str:
    if not row:
        return f"{name}: -"
    if not row.get("available"):
        return f"{name}: unavailable ({row.get('reason', '')})"
    q = f" q {row['quantile_ms']:.1f}" if "quantile_ms" in row else ""
    ok = "feasible" if row.get("feasible") else f"infeasible ({row.get('reason', '')})"
    return (f"{name}: {row['expected_ms']:.1f} ms{q} (queue {row['queue_ms']:.1f}, compute {row['compute_ms']:.3f}, "
            f"platform {row['platform_ms']:.1f}), {row['energy_j'] * 1e3:.2f} mJ, {ok}")


def render_divergence(d: dict[str, Any], console: Any) -> None:
    """One request routed differently: the request, then per tier what each side estimated and concluded."""
    r = d["request"]
    console.print(f"request {d['index']} at {d['t_s']:.3f} s: {r['model']} from {r['site']} ({r['tenant']}, "
                  f"{r['objective']}, deadline {r['deadline_ms']} ms{', strict' if r['strict'] else ''}): "
                  f"live {d['live']['tier']}, sim {d['sim']['tier']}")
    for side in ("live", "sim"):
        tiers = d[side].get("tiers") or {}
        console.print(f"  {side} ranking {' > '.join(d[side].get('ranking') or [])}")
        for name in tiers:
            console.print(f"    {_tier_line(name, tiers[name])}")


def _dev_key(data_dir: Path) -> str | None:
    path = Path(data_dir) / "dev.key"
    return path.read_text().strip() if path.exists() else None


@app.callback(invoke_without_command=True)
def sim_live(
    scenario: Annotated[Path, typer.Option("--scenario", help="scenario YAML (e.g. cluster/scenarios/sim-to-real.yaml)")],
    live: Annotated[str, typer.Option("--live", help="base URL of the running platform, e.g. http://127.0.0.1:8000")],
    warmup_s: Annotated[float, typer.Option("--warmup-s", help="warm-up replay that calibrates platform_ms")] = 10.0,
    duration_s: Annotated[float | None, typer.Option("--duration-s", help="override the scenario's duration")] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="trace seed (default: the scenario's)")] = None,
    models_dir: Annotated[Path | None, typer.Option(
        "--models-dir", help="built models whose manifest profiles the sim uses (default: the settings')")] = None,
    timeout_s: Annotated[float, typer.Option("--timeout-s", help="per-request timeout")] = 10.0,
    explain: Annotated[int, typer.Option(
        "--explain", help="list the first N requests routed differently, with both sides' estimates per tier")] = 0,
    output: Annotated[str, typer.Option("-o", "--output", help="table or json")] = "table",
    api_key: Annotated[str | None, typer.Option(
        "--api-key", envvar="MAAS_API_KEY",
        help="tenant key sent as 'Authorization: Bearer' (default: the dev tenant's key in the data dir)")] = None,
) -> None:
    """Replay SCENARIO's trace against the platform at --live, simulate the same trace from the live start, and
    compare SLO attainment (within 3 points) and tier shares (within 5 points)."""
    from maas.settings import load_settings
    from maas.sim.scenario import load_scenario
    from maas.simlive.live import check, manifest_host_ms

    if output not in _OUTPUTS:
        raise fail(f"--output: unknown value {output!r} (allowed: {', '.join(_OUTPUTS)})", EXIT_USAGE)
    for name, value in (("--warmup-s", warmup_s), ("--duration-s", duration_s), ("--timeout-s", timeout_s)):
        if value is not None and value <= 0:
            raise fail(f"{name}: {value} is not > 0 (allowed: > 0)", EXIT_USAGE)
    if explain < 0:
        raise fail(f"--explain: {explain} is not >= 0 (allowed: a count >= 0)", EXIT_USAGE)
    if not live.startswith(("http://", "https://")):
        raise fail(f"--live: {live!r} is not an http(s) URL (allowed: e.g. http://127.0.0.1:8000)", EXIT_USAGE)
    progress = None if output == "json" else (lambda m: print(m, file=sys.stderr, flush=True))
    with errors_to_exit():  # bad input exits 2, a platform error 1
        settings = load_settings(None)
        spec = load_scenario(scenario)
        host_ms = manifest_host_ms(models_dir or settings.models_dir, list(spec.models))
        key = api_key or _dev_key(settings.data_dir)
        report = check(live.rstrip("/"), spec, str(scenario), host_ms=host_ms, warmup_s=warmup_s, seed=seed,
                       duration_s=duration_s, timeout_s=timeout_s, progress=progress, explain=explain,
                       headers={"Authorization": f"Bearer {key}"} if key else None)
    if output == "json":
        typer.echo(json.dumps(report, indent=2))
    else:
        render_report(report)
    raise typer.Exit(0 if report["comparison"]["passed"] else 1)
