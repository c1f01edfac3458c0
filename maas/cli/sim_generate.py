"""``maas sim generate``: seeded scenarios from the documented distributions of ``maas.sim.generate``.

Mounted on the ``maas sim`` sub-app by ``register(sim.app)``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from maas.cli.common import EXIT_USAGE, fail
from maas.errors import ConfigError

__all__ = ["register", "parse_pair", "parse_ranges"]


def parse_pair(option: str, text: str, cast=float) -> tuple:
    """``"a,b"`` -> (a, b); a usage error naming ``option`` otherwise."""
    parts = [p.strip() for p in text.split(",")]
    try:
        if len(parts) != 2:
            raise ValueError
        return cast(parts[0]), cast(parts[1])
    except ValueError:
        raise fail(f"{option}: {text!r} is not 'low,high' (allowed: two numbers, low <= high)", EXIT_USAGE) from None


def parse_ranges(load: str, sites: str, cv: str, deadline_ms: str, tenants: str, strict_share: float,
                 fault_rate: float, arrivals: str, faults: str, regions: str, requests: int):
    """The generator's ranges from CLI text; exit 2 naming the field and the allowed values."""
    from maas.sim.generate import ranges_from

    values: dict = {
        "load": parse_pair("--load", load), "sites": parse_pair("--sites", sites, int), "cv": parse_pair("--cv", cv),
        "deadline_ms": parse_pair("--deadline-ms", deadline_ms), "tenants": parse_pair("--tenants", tenants, int),
        "strict_share": strict_share, "fault_rate": fault_rate, "requests": requests,
        "arrivals": tuple(a.strip() for a in arrivals.split(",") if a.strip()),
        "faults": tuple(f.strip() for f in faults.split(",") if f.strip()),
    }
    if regions:
        values["regions"] = tuple(r.strip() for r in regions.split(",") if r.strip())
    try:
        return ranges_from(values)
    except ConfigError as exc:
        detail = exc.message.split(f"{exc.field}: ", 1)[-1]
        raise fail(f"--{exc.field.replace('_', '-')}: {detail}", EXIT_USAGE) from None


def register(app: typer.Typer) -> None:
    """Add ``generate`` to ``app`` (the ``maas sim`` sub-app)."""

    @app.command("generate")
    def generate_cmd(
        n: Annotated[int, typer.Option("--n", help="how many scenarios")] = 10,
        seed: Annotated[int, typer.Option("--seed", help="generator seed")] = 0,
        out: Annotated[Path, typer.Option("--out", help="directory for the scenario YAML files")] = Path(
            "results/generated"),
        load: Annotated[str, typer.Option("--load", help="low,high fraction of edge capacity")] = "0.4,0.95",
        sites: Annotated[str, typer.Option("--sites", help="low,high site count")] = "10,60",
        cv: Annotated[str, typer.Option("--cv", help="low,high CV of gamma inter-arrivals")] = "1,4",
        deadline_ms: Annotated[str, typer.Option("--deadline-ms", help="low,high deadline (log-uniform)")] = "20,500",
        tenants: Annotated[str, typer.Option("--tenants", help="low,high tenant count")] = "2,5",
        strict_share: Annotated[float, typer.Option("--strict-share", help="P(a tenant is strict)")] = 0.2,
        fault_rate: Annotated[float, typer.Option("--fault-rate", help="mean faults per scenario")] = 1.0,
        arrivals: Annotated[str, typer.Option("--arrivals", help="arrival kinds to draw from")] =
            "poisson,gamma,diurnal,flash",
        faults: Annotated[str, typer.Option("--faults", help="fault kinds to draw from")] =
            "outage,link_degradation,satellite_loss,battery_low",
        regions: Annotated[str, typer.Option("--regions", help="regions to draw from (default: all)")] = "",
        requests: Annotated[int, typer.Option("--requests", help="about this many requests per scenario")] = 2500,
        output: Annotated[str, typer.Option("-o", "--output", help="table or json")] = "table",
    ) -> None:
        """Write N seeded scenarios (and any topology variants they need) into OUT; list what was drawn."""
        from maas.sim.generate import generate_many, write_scenarios

        if n < 1:
            raise fail(f"--n: {n} is not >= 1 (allowed: >= 1)", EXIT_USAGE)
        if output not in ("table", "json"):
            raise fail(f"--output: unknown value {output!r} (allowed: table, json)", EXIT_USAGE)
        ranges = parse_ranges(load, sites, cv, deadline_ms, tenants, strict_share, fault_rate, arrivals, faults,
                              regions, requests)
        try:
            scenarios = generate_many(n, seed, ranges)  # all drawn before anything is written
        except ConfigError as exc:
            raise fail(exc.message, EXIT_USAGE) from None
        paths = write_scenarios(scenarios, out)
        if output == "json":
            typer.echo(json.dumps([{"file": str(p), **g.traits} for p, g in zip(paths, scenarios, strict=True)],
                                  indent=1))
            return
        for p, g in zip(paths, scenarios, strict=True):
            t = g.traits
            typer.echo(f"{p}  {t['region']:<8} {t['hour_local']:5.1f}h {t['sites']:>3} sites load {t['load']:.2f} "
                       f"{t['arrivals']:<8} {len(t['faults'])} faults")
