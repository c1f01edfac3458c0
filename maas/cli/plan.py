"""``maas plan``: the fewest compute slots per tier that meet an attainment target at the least energy.

Mounted with ``plan.register(app)``. Exit codes: 0 answered and checked, 1 the target is not reachable within
``--max-replicas``, 2 bad input (also a ``--ray-address`` no Ray answers at within 10 s).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from maas.cli.common import EXIT_ERROR, EXIT_USAGE, fail
from maas.errors import ConfigError, MaasError, NotReady
from maas.tables import Col, View, check_output, render, text

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add ``plan`` to the ``maas`` app."""

    @app.command("plan")
    def plan_cmd(
        scenario: Annotated[Path, typer.Option("--scenario", help="scenario YAML")],
        target: Annotated[float, typer.Option("--target-attainment", help="SLO attainment to meet, (0, 1]")] = 0.99,
        tiers: Annotated[str, typer.Option("--tiers", help="tiers to size (default: all of the scenario)")] = "",
        max_replicas: Annotated[int, typer.Option("--max-replicas", help="replicas per location tried")] = 2,
        seeds: Annotated[int, typer.Option("--seeds", help="replications per candidate")] = 3,
        ray_address: Annotated[str | None, typer.Option("--ray-address", help="Ray cluster (default: local)")] = None,
        workers: Annotated[int | None, typer.Option("--workers", help="CPUs of the local Ray")] = None,
        local: Annotated[bool, typer.Option("--local", help="run in this process, without Ray")] = False,
        output: Annotated[str, typer.Option("-o", "--output", help="table or json")] = "table",
    ) -> None:
        """Search replicas per tier location (0 = not deployed) by sweeps; check the answer on a fresh seed."""
        from maas.cli.sim_sweep import execute
        from maas.sim.plan import check, search
        from maas.sim.sweep import SweepScenario

        bad = check_output(output, ("table", "json"))
        if bad:
            raise fail(bad, EXIT_USAGE)
        try:
            s = SweepScenario.from_file(scenario)
            names = [t.strip() for t in tiers.split(",") if t.strip()] or None
            result = search(s, target, lambda tasks: execute(tasks, ray_address, workers, local), tiers=names,
                            max_replicas=max_replicas, seeds=seeds)
        except ConfigError as exc:
            raise fail(exc.message, EXIT_USAGE) from None
        except NotReady as exc:  # the --ray-address probe
            raise fail(f"{exc.message} (allowed: the host:port of a running Ray head)", EXIT_USAGE) from None
        except MaasError as exc:
            raise fail(exc.message, EXIT_ERROR) from None
        checked = None if result.answer is None else check(s, result.answer, seed=seeds + 100)
        data = {"scenario": s.name, "target_attainment": target, "answer": result.answer, "slots": result.slots,
                "total_slots": result.total_slots, "slo_attainment": result.attainment,
                "energy_j_per_success": result.energy_j_per_success, "check": checked,
                "evaluated": result.evaluated}
        if output == "json":
            typer.echo(json.dumps(data, indent=1))
        elif result.answer is None:
            typer.echo(f"no candidate up to {max_replicas} replicas per location meets {target}")
        else:
            rows = [{"tier": t, "replicas": r, "slots": result.slots[t]} for t, r in result.answer.items()]
            a = result.attainment
            notes = [f"{len(result.evaluated)} candidates evaluated x {seeds} seeds; attainment {a['mean']:.4f} "
                     f"(95% {a['lo'] if a['lo'] is None else round(a['lo'], 4)}-"
                     f"{a['hi'] if a['hi'] is None else round(a['hi'], 4)}), energy "
                     f"{result.energy_j_per_success['mean']:.4g} J/success",
                     f"check on a fresh seed: attainment {checked['slo_attainment']:.4f} "
                     f"({'meets' if checked['slo_attainment'] >= target else 'misses'} {target})"]
            cols = [Col("tier", fmt=text, left=True), Col("replicas", unit="/location"), Col("slots", unit="total")]
            render(View(f"maas plan: {s.name}, {result.total_slots} slots", cols, rows, notes), "table")
        if result.answer is None or checked["slo_attainment"] < target:
            raise typer.Exit(EXIT_ERROR)
