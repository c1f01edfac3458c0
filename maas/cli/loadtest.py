"""``maas loadtest``: open-loop load tests of V2 servers (run, compare, find-peak, selftest).

Mount with ``app.add_typer(loadtest.app, name="loadtest")``. Exit codes: 0 pass, 1 tool error, 2 usage error,
3 a threshold failed, 4 invalid run (the generator could not prove it kept up, or the run was interrupted).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from pydantic import ValidationError

from maas.cli.common import EXIT_ERROR, EXIT_USAGE, fail
from maas.cli.loadtest_peak import find_peak_cmd
from maas.errors import ConfigError, InvalidInput, MaasError, ModelNotFound
from maas.loadtest.console import render_compare, render_run, render_selftest

__all__ = ["app"]

app = typer.Typer(
    help="Open-loop, coordinated-omission-free load tests of V2 inference servers.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

T = TypeVar("T")
_ARRIVALS = ("poisson", "constant", "gamma", "ramp", "steps")
ApiKeyOpt = Annotated[
    str | None,
    typer.Option(
        "--api-key", envvar="MAAS_API_KEY", help="send 'Authorization: Bearer KEY' on every request (and the probe)"
    ),
]


@contextmanager
def _exits() -> Iterator[None]:
    """Usage errors exit 2, tool errors exit 1; never a traceback."""
    try:
        yield
    except (ConfigError, InvalidInput, ModelNotFound) as exc:
        raise fail(exc.message, EXIT_USAGE) from None
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(x) for x in err["loc"]) or "-"
        raise fail(f"{where}: {err['msg']}", EXIT_USAGE) from None
    except MaasError as exc:
        raise fail(exc.message, EXIT_ERROR) from None
    except KeyboardInterrupt:
        raise fail("interrupted before the run started", EXIT_ERROR) from None
    except (OSError, RuntimeError) as exc:
        raise fail(f"{type(exc).__name__}: {exc}", EXIT_ERROR) from None


def _parse_steps(text: str) -> list[tuple[float, float]]:
    try:
        pairs = [part.split(":") for part in text.split(",") if part.strip()]
        return [(float(d), float(r)) for d, r in pairs]
    except ValueError:
        raise InvalidInput(f"--steps {text!r}: expected 'duration_s:rate_rps,...' e.g. '10:100,10:200'") from None


def _parse_headers(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        if ":" not in item:
            raise InvalidInput(f"--header {item!r}: expected 'Name: value'")
        k, v = item.split(":", 1)
        out[k.strip()] = v.strip()
    return out


def _auth_headers(items: list[str], api_key: str | None) -> dict[str, str]:
    """``-H`` headers plus ``Authorization: Bearer KEY`` for ``--api-key`` (an explicit ``-H Authorization`` wins;
    a mix entry's own ``api_key`` wins for its requests)."""
    headers = _parse_headers(items)
    if api_key is None:
        return headers
    if not api_key or not api_key.isprintable() or any(c.isspace() for c in api_key):
        raise InvalidInput("--api-key: empty or contains spaces (allowed: one key such as maas_<id>_<secret>)")
    if not any(name.lower() == "authorization" for name in headers):
        headers["Authorization"] = f"Bearer {api_key}"
    return headers


def _build_mix(model: list[str], mix: Path | None, trace: Path | None, hints: dict[str, Any]) -> Any:
    from maas.loadtest.mix import MixEntry, RequestMix, default_mix, load_mix

    chosen = sum(bool(x) for x in (model, mix, trace))
    if chosen != 1:
        raise InvalidInput("give exactly one of --model, --mix (a file or 'default') or --trace")
    if trace:
        return None
    if mix is not None:
        return default_mix() if str(mix) == "default" else load_mix(mix)
    clean = {k: v for k, v in hints.items() if v is not None}
    return RequestMix(entries=[MixEntry(model=m, **clean) for m in model])


def _write_outputs(result: dict[str, Any], report: Path | None, partial: bool) -> Path | None:
    from maas.loadtest.report import write_report

    target = report
    if target is None and partial:
        target = Path(f"loadtest-partial-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}")
    if target is None:
        return None
    paths = write_report(result, target)
    return paths["json"]


def _guard(fn: Callable[[], T]) -> T:
    with _exits():
        return fn()


@app.command()
def run(
    url: Annotated[str, typer.Option("--url", help="server base URL, e.g. http://127.0.0.1:8000")],
    model: Annotated[
        list[str] | None, typer.Option("--model", "-m", help="model to call (repeat for an equal mix)")
    ] = None,
    mix: Annotated[Path | None, typer.Option("--mix", help="mix file (YAML/JSON) or 'default'")] = None,
    trace: Annotated[Path | None, typer.Option("--trace", help="JSONL trace to replay (t_s + request fields)")] = None,
    rate: Annotated[float, typer.Option("--rate", help="mean rate in requests/s (start rate for ramp)")] = 50.0,
    duration: Annotated[float, typer.Option("--duration", help="seconds")] = 30.0,
    arrival: Annotated[str, typer.Option("--arrival", help="poisson|constant|gamma|ramp|steps")] = "poisson",
    cv: Annotated[float, typer.Option("--cv", help="gamma: coefficient of variation of gaps (burstiness)")] = 1.0,
    rate_end: Annotated[float | None, typer.Option("--rate-end", help="ramp: final rate")] = None,
    steps: Annotated[str | None, typer.Option("--steps", help="steps: 'duration_s:rate,...'")] = None,
    seed: Annotated[int, typer.Option("--seed")] = 1,
    concurrency: Annotated[int | None, typer.Option("--concurrency", help="closed loop with N senders")] = None,
    workers: Annotated[int | None, typer.Option("--workers", help="generator processes (default: by rate)")] = None,
    warmup: Annotated[float | None, typer.Option("--warmup", help="seconds excluded (default min(2, 10%))")] = None,
    timeout: Annotated[float, typer.Option("--timeout", help="per-request timeout, s")] = 10.0,
    deadline_ms: Annotated[float | None, typer.Option("--deadline-ms", help="hint + SLO (with --model)")] = None,
    objective: Annotated[str | None, typer.Option("--objective", help="latency|balanced|energy|carbon")] = None,
    site: Annotated[str | None, typer.Option("--site")] = None,
    tier: Annotated[str | None, typer.Option("--tier", help="pin a tier (testing)")] = None,
    rows: Annotated[int, typer.Option("--rows", help="batch rows per request (with --model)")] = 1,
    threshold: Annotated[
        list[str] | None, typer.Option("--threshold", "-t", help="e.g. 'p99<50ms' (repeatable)")
    ] = None,
    output: Annotated[str, typer.Option("-o", "--output", help="text|json")] = "text",
    report: Annotated[Path | None, typer.Option("--report", help="directory for result.json + report.html")] = None,
    max_lateness_ms: Annotated[float, typer.Option("--max-lateness-ms", help="validity: lateness p99 bound")] = 5.0,
    min_duration: Annotated[float, typer.Option("--min-duration", help="validity: measured seconds")] = 10.0,
    min_requests: Annotated[int, typer.Option("--min-requests", help="validity: measured requests")] = 500,
    header: Annotated[list[str] | None, typer.Option("--header", "-H", help="'Name: value' on every request")] = None,
    api_key: ApiKeyOpt = None,
    progress_every: Annotated[
        float, typer.Option("--progress-every", help="seconds between plain progress lines (non-TTY)")
    ] = 5.0,
) -> None:
    """Drive a V2 server with an open-loop schedule (or a closed loop) and judge the run."""
    model, threshold, header = model or [], threshold or [], header or []
    from maas.loadtest.harness import LoadTestSpec, run_loadtest
    from maas.loadtest.progress import ProgressView
    from maas.loadtest.schedule import ArrivalSpec

    if output not in ("text", "json"):
        raise fail(f"-o {output!r}: allowed text, json", EXIT_USAGE)
    if arrival not in _ARRIVALS:
        raise fail(f"--arrival {arrival!r}: allowed {', '.join(_ARRIVALS)}", EXIT_USAGE)
    if rate <= 0 or duration <= 0:
        raise fail("--rate and --duration must be > 0", EXIT_USAGE)
    if concurrency is not None and concurrency < 1:
        raise fail("--concurrency must be >= 1", EXIT_USAGE)

    def build() -> Any:
        from maas.loadtest.verdict import parse_threshold

        for t in threshold:
            parse_threshold(t)
        hints = dict(deadline_ms=deadline_ms, objective=objective, site=site, tier=tier, rows=rows)
        request_mix = _build_mix(model, mix, trace, hints)
        arrival_spec = ArrivalSpec(
            kind=arrival,
            rate_rps=rate,
            duration_s=duration,
            cv=cv,
            rate_end_rps=rate_end,
            steps=_parse_steps(steps) if steps else [],
        )
        return LoadTestSpec(
            url=url,
            mix=request_mix,
            arrival=arrival_spec,
            trace_path=str(trace) if trace else None,
            mode="closed" if concurrency else "open",
            concurrency=concurrency or 1,
            seed=seed,
            workers=workers,
            warmup_s=warmup,
            timeout_s=timeout,
            thresholds=list(threshold),
            max_lateness_p99_ms=max_lateness_ms,
            min_duration_s=min_duration,
            min_requests=min_requests,
            headers=_auth_headers(header, api_key),
        )

    spec = _guard(build)
    with ProgressView(plain_every_s=progress_every) as view:
        outcome = _guard(lambda: run_loadtest(spec, view))
    saved = _guard(lambda: _write_outputs(outcome.result, report, outcome.summary["partial"]))
    if output == "json":
        typer.echo(json.dumps(outcome.summary))
    else:
        render_run(outcome.summary)
    if saved is not None:
        typer.echo(f"results: {saved}" + (" (partial)" if outcome.summary["partial"] else ""), err=True)
    raise typer.Exit(outcome.exit_code)


@app.command()
def compare(
    a: Annotated[Path, typer.Argument(help="baseline result.json")],
    b: Annotated[Path, typer.Argument(help="candidate result.json")],
    confidence: Annotated[float, typer.Option("--confidence")] = 0.95,
    iterations: Annotated[int, typer.Option("--iterations", help="bootstrap resamples")] = 1000,
    output: Annotated[str, typer.Option("-o", "--output", help="text|json")] = "text",
) -> None:
    """Differences B - A with confidence intervals (bootstrap for percentiles, analytic for rates)."""
    from maas.loadtest.compare import compare_results
    from maas.loadtest.result import load_result

    if output not in ("text", "json") or not 0.5 <= confidence < 1.0 or iterations < 100:
        raise fail("-o text|json, --confidence in [0.5, 1), --iterations >= 100", EXIT_USAGE)
    doc_a, doc_b = _guard(lambda: load_result(a)), _guard(lambda: load_result(b))
    cmp = _guard(lambda: compare_results(doc_a, doc_b, iterations, confidence))
    if output == "json":
        typer.echo(json.dumps(cmp))
        return
    render_compare(cmp)


# find-peak: the knee of goodput against rate, beside the attainment floor (maas.cli.loadtest_peak)
app.command("find-peak")(find_peak_cmd)


@app.command()
def selftest(
    stall_s: Annotated[float, typer.Option("--stall-s", help="length of the one server stall")] = 1.0,
    rate: Annotated[float, typer.Option("--rate")] = 200.0,
    duration: Annotated[float, typer.Option("--duration")] = 8.0,
    output: Annotated[str, typer.Option("-o", "--output", help="text|json")] = "text",
) -> None:
    """Start a local V2 server that stalls once; show the corrected vs the uncorrected tail."""
    from maas.loadtest.selftest import run_selftest

    if stall_s <= 0 or rate <= 0 or duration <= 2 * stall_s or output not in ("text", "json"):
        raise fail("need --stall-s > 0, --rate > 0, --duration > 2 x stall, -o text|json", EXIT_USAGE)
    res = _guard(lambda: run_selftest(stall_s, rate, duration))
    if output == "json":
        typer.echo(json.dumps(res))
    else:
        render_selftest(res)
    if not res["passed"]:
        raise typer.Exit(1)


def _main() -> None:  # pragma: no cover - for `python -m maas.cli.loadtest`
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(_main())
