"""``maas sim sweep``: replications of a scenario grid in parallel as Ray tasks, figures with 95% intervals.

Mounted on the ``maas sim`` sub-app by ``register(sim.app)``. Exit codes: 0 ok, 2 bad input (nothing runs),
including a ``--ray-address`` no Ray answers at within 10 s (as issue 14 asks), 1 a failed run; nothing partial is
written.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path
from typing import Annotated

import typer

from maas.cli.common import EXIT_ERROR, EXIT_USAGE, fail
from maas.errors import ConfigError, MaasError, NotReady
from maas.tables import Col, View, check_output, render, text

__all__ = ["register", "sweep_view", "write_frontier_plot", "prepare_tasks", "execute"]


def _ci(fig: str, digits: int = 4):
    def get(row: dict) -> str:
        v = row[fig]
        if v["mean"] is None:
            return "-"
        if v["lo"] is None:
            return f"{v['mean']:.{digits}g}"
        return f"{v['mean']:.{digits}g} ±{(v['hi'] - v['lo']) / 2:.2g}"
    return get


def sweep_view(rows: list[dict], title: str) -> View:
    """One row per (scenario, point, policy): mean ± half the 95% interval across seeds."""
    cols = [
        Col("scenario", fmt=text, left=True, priority=3),
        Col("point", lambda r: " ".join(f"{k}={v}" for k, v in r["point"].items()) or "-", fmt=text, left=True),
        Col("policy", fmt=text, left=True, priority=2),
        Col("SLO att.", _ci("slo_attainment"), fmt=text),
        Col("energy", _ci("energy_j_per_success", 3), unit="J/success", fmt=text),
        Col("p99", _ci("p99_ms", 3), unit="ms", fmt=text, priority=1),
        Col("seeds", "seeds", priority=4),
        Col("pareto", lambda r: "*" if r.get("pareto") else "", fmt=text, priority=1),
    ]
    return View(title, cols, rows)


def write_frontier_plot(rows: list[dict], path: Path, title: str) -> None:
    """Attainment against energy per success for the main policy's points, 95% intervals as error bars, the
    Pareto frontier as a dashed step; points labelled with their parameters (only the frontier's, faded others,
    when there are more than 8 points: the labels would overlap)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 5))
    for scenario in dict.fromkeys(r["scenario"] for r in rows):
        mine = [r for r in rows if r["scenario"] == scenario and r["slo_attainment"]["mean"] is not None
                and r["energy_j_per_success"]["mean"] is not None]
        xs = [r["energy_j_per_success"]["mean"] for r in mine]
        ys = [r["slo_attainment"]["mean"] for r in mine]
        xerr = [0.0 if r["energy_j_per_success"]["lo"] is None else
                (r["energy_j_per_success"]["hi"] - r["energy_j_per_success"]["lo"]) / 2 for r in mine]
        yerr = [0.0 if r["slo_attainment"]["lo"] is None else
                (r["slo_attainment"]["hi"] - r["slo_attainment"]["lo"]) / 2 for r in mine]
        crowded = len(mine) > 8
        bars = ax.errorbar(xs, ys, xerr=xerr, yerr=yerr, fmt="o", capsize=3, label=scenario,
                           alpha=0.35 if crowded else 1.0)
        if crowded:
            on = [i for i, r in enumerate(mine) if r.get("pareto")]
            ax.plot([xs[i] for i in on], [ys[i] for i in on], "o", color=bars[0].get_color(), markersize=8)
        for r, x, y in zip(mine, xs, ys, strict=True):
            if crowded and not r.get("pareto"):
                continue
            ax.annotate(" ".join(f"{k}={v}" for k, v in r["point"].items()), (x, y), fontsize=7,
                        xytext=(4, 2), textcoords="offset points")
        front = sorted((x, y) for r, x, y in zip(mine, xs, ys, strict=True) if r.get("pareto"))
        if len(front) > 1:
            ax.step([p[0] for p in front], [p[1] for p in front], "--", where="post", alpha=0.6)
    ax.set_xlabel("energy per successful request (J)")
    ax.set_ylabel("SLO attainment (mean, 95% interval over seeds)")
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fd, tmp = tempfile.mkstemp(suffix=".png", dir=str(path.parent))
    os.close(fd)
    try:
        fig.savefig(tmp, format="png", dpi=120)
        os.replace(tmp, path)
    finally:
        plt.close(fig)
        if os.path.exists(tmp):
            os.unlink(tmp)


def prepare_tasks(scenario: Path | None, generate: int | None, gen_seed: int, seeds: int, vary: list[str],
                  policies: str, oracle: bool) -> list[dict]:
    """Validate every input and build the tasks (ConfigError naming the field and allowed values)."""
    from maas.routing import policy_names
    from maas.sim.sweep import SweepScenario, expand, parse_vary

    if (scenario is None) == (generate is None):
        raise ConfigError("sweep", "--scenario/--generate", "give exactly one", "--scenario FILE or --generate N")
    if generate is not None and generate < 1:
        raise ConfigError("sweep", "--generate", f"{generate} is not >= 1", ">= 1")
    if seeds < 1:
        raise ConfigError("sweep", "--seeds", f"{seeds} is not >= 1", ">= 1")
    parsed = parse_vary(vary)
    names = [p.strip() for p in policies.split(",") if p.strip()]
    allowed = policy_names(("base-station", "optical-access", "ground", "satellite"))
    for n in names:
        if n not in allowed:
            raise ConfigError("sweep", "--policies", f"unknown policy {n!r}", ", ".join(allowed))
    if scenario is not None:
        scenarios = [SweepScenario.from_file(scenario)]
    else:
        from maas.sim.generate import generate_many

        scenarios = [SweepScenario(g.name, g.spec.model_dump(mode="json"), g.files)
                     for g in generate_many(generate, gen_seed)]
    return expand(scenarios, parsed, seeds, policies=names or None, oracle=oracle)


def execute(tasks: list[dict], ray_address: str | None, workers: int | None, local: bool) -> list[dict]:
    """Run the tasks on Ray (or in this process with ``local``)."""
    if local:
        from maas.sim.sweep import run_local

        return run_local(tasks)
    from maas.serving.sweep_runner import run_tasks

    return run_tasks(tasks, address=ray_address, workers=workers)


def _write_json(path: Path, data: dict) -> None:
    fd, tmp = tempfile.mkstemp(dir=str(path.parent), suffix=".json")
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh, indent=1)
    os.replace(tmp, path)


def register(app: typer.Typer) -> None:
    """Add ``sweep`` to ``app`` (the ``maas sim`` sub-app)."""

    @app.command("sweep")
    def sweep_cmd(
        scenario: Annotated[Path | None, typer.Option("--scenario", help="scenario YAML")] = None,
        generate: Annotated[int | None, typer.Option("--generate", help="N generated scenarios instead")] = None,
        gen_seed: Annotated[int, typer.Option("--gen-seed", help="generator seed for --generate")] = 0,
        seeds: Annotated[int, typer.Option("--seeds", help="K replications (seeds) per grid point")] = 5,
        vary: Annotated[list[str] | None, typer.Option("--vary", help="key=v1,v2,... (repeatable)")] = None,
        policies: Annotated[str, typer.Option("--policies", help="policies to run")] = "edge-aware",
        oracle: Annotated[bool, typer.Option("--oracle/--no-oracle", help="also solve the oracle")] = False,
        ray_address: Annotated[str | None, typer.Option("--ray-address", help="Ray cluster (default: local)")] = None,
        workers: Annotated[int | None, typer.Option("--workers", help="CPUs of the local Ray")] = None,
        local: Annotated[bool, typer.Option("--local", help="run in this process, without Ray")] = False,
        output: Annotated[str, typer.Option("-o", "--output", help="table, wide, json or csv")] = "table",
        json_out: Annotated[Path | None, typer.Option("--json-out", help="also write the full JSON here")] = None,
        plot: Annotated[Path | None, typer.Option("--plot", help="Pareto plot of the parameter frontier (PNG)")]
        = None,
    ) -> None:
        """Run every (scenario, --vary grid point, seed) replication; mean and 95% interval per figure."""
        bad = check_output(output)
        if bad:
            raise fail(bad, EXIT_USAGE)
        if workers is not None and workers < 1:
            raise fail(f"--workers: {workers} is not >= 1 (allowed: >= 1)", EXIT_USAGE)
        for opt, p, suffix in (("--plot", plot, ".png"), ("--json-out", json_out, ".json")):
            if p is not None and (p.suffix.lower() != suffix or not p.parent.exists()):
                raise fail(f"{opt}: {p} must end in {suffix} in an existing directory", EXIT_USAGE)
        if ray_address is not None:
            from maas.serving.ray_address import gcs_host_port

            try:
                gcs_host_port(ray_address)
            except ConfigError:
                raise fail(f"--ray-address: {ray_address!r} is not host:port (allowed: e.g. 10.0.0.5:6379)",
                           EXIT_USAGE) from None
        try:
            tasks = prepare_tasks(scenario, generate, gen_seed, seeds, vary or [], policies, oracle)
        except ConfigError as exc:
            raise fail(exc.message, EXIT_USAGE) from None
        from maas.sim.sweep import aggregate, pareto

        t0 = time.perf_counter()
        try:
            results = execute(tasks, ray_address, workers, local)
        except NotReady as exc:  # the only one: the --ray-address probe
            raise fail(f"{exc.message} (allowed: the host:port of a running Ray head)", EXIT_USAGE) from None
        except MaasError as exc:
            raise fail(exc.message, EXIT_ERROR) from None
        wall = time.perf_counter() - t0
        rows = aggregate(results)
        main = rows[0]["policy"] if rows else "edge-aware"
        marked = pareto(rows, main)
        marked_ids = {id(r) for r in rows if r["policy"] == main}
        rows = [m for m in marked] + [r for r in rows if id(r) not in marked_ids]
        data = {"tasks": len(tasks), "wall_s": round(wall, 2), "rows": rows, "replications": results}
        if json_out is not None:
            _write_json(json_out, data)
        if plot is not None:
            write_frontier_plot([r for r in rows if r["policy"] == main], plot, f"maas sim sweep: {main}")
        if output == "json":
            typer.echo(json.dumps(data, indent=1))
        else:
            render(sweep_view(rows, f"maas sim sweep: {len(tasks)} replications in {wall:.1f} s"), output)
