"""``maas loadtest find-peak``: the capacity of a V2 server, i.e. the knee of goodput against the offered Poisson rate
(``maas.loadtest.capacity``), with the low-load attainment floor beside it. With ``--slo``: the highest rate whose
run meets those thresholds instead (doubling then bisection, ``maas.loadtest.peak``).

Registered on ``maas.cli.loadtest.app`` as ``find-peak``. Exit codes: 0 found, 1 tool error, 2 usage error.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from maas.cli.common import EXIT_USAGE, fail

__all__ = ["find_peak_cmd"]


def find_peak_cmd(
    url: Annotated[str, typer.Option("--url")],
    model: Annotated[list[str] | None, typer.Option("--model", "-m")] = None,
    mix: Annotated[Path | None, typer.Option("--mix", help="mix file or 'default' (ignored with --model)")] = Path(
        "default"
    ),
    start_rps: Annotated[float, typer.Option("--start-rps", help="low rate: the attainment floor")] = 10.0,
    max_rps: Annotated[float, typer.Option("--max-rps")] = 5000.0,
    duration: Annotated[float, typer.Option("--duration", help="seconds per trial")] = 20.0,
    knee: Annotated[
        float, typer.Option("--knee", help="a rate keeps up while attainment >= KNEE x the floor's")
    ] = 0.9,
    repeats: Annotated[
        int, typer.Option("--repeats", help="extra runs of a trial whose decision is within its noise")
    ] = 2,
    slo: Annotated[
        list[str] | None,
        typer.Option("--slo", help="instead of the knee: the highest rate meeting these thresholds, e.g. 'p99<50ms'"),
    ] = None,
    tolerance: Annotated[float, typer.Option("--tolerance", help="relative width at which bisection stops")] = 0.05,
    max_trials: Annotated[int, typer.Option("--max-trials", help="runs, repeats included")] = 14,
    seed: Annotated[int, typer.Option("--seed")] = 1,
    deadline_ms: Annotated[float | None, typer.Option("--deadline-ms", help="with --model")] = None,
    max_lateness_ms: Annotated[float, typer.Option("--max-lateness-ms")] = 5.0,
    min_requests: Annotated[int, typer.Option("--min-requests")] = 200,
    output: Annotated[str, typer.Option("-o", "--output", help="text|json")] = "text",
    api_key: Annotated[
        str | None,
        typer.Option("--api-key", envvar="MAAS_API_KEY", help="send 'Authorization: Bearer KEY' on every request"),
    ] = None,
) -> None:
    """Capacity: the offered rate where goodput stops tracking the load (the knee), beside the low-load floor."""
    from maas.cli import loadtest as lt
    from maas.loadtest.harness import LoadTestSpec, run_loadtest
    from maas.loadtest.schedule import ArrivalSpec
    from maas.loadtest.verdict import parse_threshold

    model, slo = model or [], slo or []
    if output not in ("text", "json") or not 0 < start_rps <= max_rps or duration <= 0 or not 0 < tolerance < 1:
        raise fail("need 0 < --start-rps <= --max-rps, --duration > 0, 0 < --tolerance < 1, -o text|json", EXIT_USAGE)
    if not 0 < knee <= 1 or repeats < 0 or max_trials < 1:
        raise fail("need 0 < --knee <= 1, --repeats >= 0, --max-trials >= 1", EXIT_USAGE)
    lt._guard(lambda: [parse_threshold(s) for s in slo])
    request_mix = lt._guard(lambda: lt._build_mix(model, None if model else mix, None, {"deadline_ms": deadline_ms}))
    headers = lt._guard(lambda: lt._auth_headers([], api_key))

    def run(rate: float, repeat: int) -> Any:
        spec = LoadTestSpec(
            url=url,
            mix=request_mix,
            arrival=ArrivalSpec(rate_rps=rate, duration_s=duration),
            seed=seed + 1000 * repeat,
            thresholds=list(slo),
            max_lateness_p99_ms=max_lateness_ms,
            min_duration_s=min(duration * 0.5, 10.0),
            min_requests=min(min_requests, int(rate * duration * 0.5)),
            headers=headers,
        )
        return run_loadtest(spec)

    if slo:
        doc = lt._guard(lambda: _by_slo(run, slo, start_rps, max_rps, tolerance, max_trials))
        doc["duration_s"] = duration
    else:
        doc = lt._guard(lambda: _by_knee(run, start_rps, max_rps, knee, repeats, tolerance, max_trials))
        doc["duration_s"] = duration
    if output == "json":
        typer.echo(json.dumps(doc))
    elif slo:
        from maas.loadtest.console import render_peak

        render_peak(doc)
    else:
        from maas.loadtest.console import render_capacity

        render_capacity(doc)


def _by_knee(run: Any, start_rps: float, max_rps: float, knee: float, repeats: int, tolerance: float,
             max_trials: int) -> dict[str, Any]:
    from maas.loadtest.capacity import CapacityTrial, find_capacity, trial_from_summary
    from maas.loadtest.console import fmt

    def measure(rate: float, repeat: int) -> CapacityTrial:
        return trial_from_summary(rate, run(rate, repeat).summary)

    def show(t: CapacityTrial) -> None:
        typer.echo(
            f"rate {t.rate_rps:9.2f} rps: {'keeps up' if t.keeps_up else 'FALLS BEHIND'}"
            f"{' (within noise)' if t.ambiguous else ''} runs={t.runs} goodput={fmt(t.goodput_rps)} rps "
            f"attainment={fmt(t.attainment)} efficiency={fmt(t.efficiency)} p99={fmt(t.p99_ms)} ms "
            f"refused={t.refused} timeouts={t.timeouts}{'' if t.valid else ' INVALID'}",
            err=True,
        )

    result = find_capacity(measure, start_rps, max_rps, knee=knee, max_repeats=repeats, tolerance=tolerance,
                           max_trials=max_trials, on_trial=show)
    return {"criterion": f"goodput knee: attainment >= {knee:g} x the floor", **result.to_dict()}


def _by_slo(run: Any, slos: list[str], start_rps: float, max_rps: float, tolerance: float,
            max_trials: int) -> dict[str, Any]:
    from maas.loadtest.console import fmt
    from maas.loadtest.peak import Trial, find_peak

    def measure(rate: float) -> Trial:
        out = run(rate, 0)
        s = out.summary
        behind = any(c["name"] in ("achieved_rate", "dispatch_lateness_p99") and not c["ok"] for c in s["checks"])
        return Trial(rate, out.exit_code == 0, s["verdict"], s, harness_limited=behind)

    def show(t: Trial) -> None:
        s = t.summary
        typer.echo(
            f"rate {t.rate_rps:9.2f} rps: {'pass' if t.passed else 'FAIL'} ({t.verdict}) "
            f"achieved={s['achieved_rps']:.1f} p99={fmt(s['latency_ms']['p99'])} ms "
            f"slo={fmt(s['slo_attainment'])} errors={s['errors']}",
            err=True,
        )

    result = find_peak(measure, start_rps, max_rps, tolerance, max_trials, show)
    return {
        "criterion": "slo",
        "peak_rps": result.peak_rps,
        "lowest_failing_rps": result.lowest_failing_rps,
        "limited_by": result.limited_by,
        "slo": slos,
        "trials": [
            {
                "rate_rps": t.rate_rps,
                "passed": t.passed,
                "verdict": t.verdict,
                "achieved_rps": t.summary.get("achieved_rps"),
                "p99_ms": t.summary.get("latency_ms", {}).get("p99"),
                "slo_attainment": t.summary.get("slo_attainment"),
            }
            for t in result.trials
        ],
    }
