"""One load test from start to finish: probe the server, compile the mix, build the schedule, run, judge.

``LoadTestSpec`` is everything a run needs; ``run_loadtest(spec)`` returns a ``LoadTestOutcome`` holding the
``result.json`` document, the summary and the exit code. The CLI, ``find-peak``, ``selftest`` and the benchmark
all go through here.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from maas.loadtest.mix import RequestMix, prepare_mix
from maas.loadtest.result import build_result, summarize
from maas.loadtest.runner import Progress, RunConfig, execute
from maas.loadtest.schedule import ArrivalSpec, Schedule, build_schedule
from maas.loadtest.trace import load_trace
from maas.loadtest.transport import probe_server
from maas.loadtest.verdict import ValidityBounds, check_validity, evaluate_thresholds, exit_code, parse_threshold

__all__ = ["LoadTestSpec", "LoadTestOutcome", "run_loadtest", "auto_workers"]


class LoadTestSpec(BaseModel):
    """A complete description of one run."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    url: str
    mix: RequestMix | None = Field(None, description="None only with trace_path")
    arrival: ArrivalSpec = Field(default_factory=ArrivalSpec)
    trace_path: str | None = None
    mode: Literal["open", "closed"] = "open"
    concurrency: int = Field(1, ge=1)
    closed_rate_rps: float | None = Field(None, gt=0)
    seed: int = 1
    workers: int | None = Field(None, ge=1, le=64, description="None = one per ~1,200 req/s, up to the cores")
    warmup_s: float | None = Field(None, ge=0, description="None = min(2 s, 10% of the duration)")
    timeout_s: float = Field(10.0, gt=0)
    spin_s: float = Field(0.0, ge=0)
    pacer: Literal["thread", "loop"] = "thread"
    max_connections: int = Field(0, ge=0)
    headers: dict[str, str] = Field(default_factory=dict)
    thresholds: list[str] = Field(default_factory=list)
    max_lateness_p99_ms: float = Field(5.0, gt=0)
    min_duration_s: float = Field(10.0, ge=0)
    min_requests: int = Field(500, ge=0)
    variants: int = Field(8, ge=1, le=256)


@dataclass
class LoadTestOutcome:
    """The result document, its summary and the exit code (0 pass, 3 threshold failed, 4 invalid)."""

    result: dict[str, Any]
    summary: dict[str, Any]
    exit_code: int


def auto_workers(rate_rps: float) -> int:
    """Generator processes for a rate: one per ~1,200 req/s, at most the number of cores."""
    return max(1, min(os.cpu_count() or 1, math.ceil(rate_rps / 1200.0)))


def _schedule(spec: LoadTestSpec) -> tuple[Schedule, RequestMix]:
    if spec.trace_path:
        return load_trace(spec.trace_path, spec.variants, spec.seed)
    assert spec.mix is not None, "a mix or a trace is needed"
    return build_schedule(spec.arrival, spec.mix.weights, [spec.variants] * len(spec.mix.entries), spec.seed), spec.mix


def run_loadtest(spec: LoadTestSpec, on_progress: Callable[[Progress], None] | None = None) -> LoadTestOutcome:
    """Probe, run and judge. Raises ``InvalidInput`` (bad threshold), ``ModelNotFound``, ``ConfigError``
    (usage errors), ``ServerUnreachable`` or ``HarnessError`` (tool errors)."""
    thresholds = [parse_threshold(t) for t in spec.thresholds]
    schedule, mix = _schedule(spec)
    metadata = probe_server(spec.url, mix.models, headers=spec.headers)
    entries = prepare_mix(mix, spec.seed + 1, spec.variants, metadata=lambda m: metadata.get(m, {}))
    open_loop = spec.mode == "open"
    duration_s = schedule.duration_s if open_loop else spec.arrival.total_duration_s
    warmup_s = spec.warmup_s if spec.warmup_s is not None else min(2.0, 0.1 * duration_s)
    if open_loop:
        workers = spec.workers or auto_workers(schedule.nominal_rps)
    else:
        workers = spec.workers or max(1, min(os.cpu_count() or 1, math.ceil(spec.concurrency / 64)))
    cfg = RunConfig(
        url=spec.url,
        mode=spec.mode,
        concurrency=spec.concurrency,
        closed_rate_rps=spec.closed_rate_rps,
        duration_s=duration_s,
        workers=workers,
        warmup_s=warmup_s,
        timeout_s=spec.timeout_s,
        spin_s=spec.spin_s,
        pacer=spec.pacer,
        max_connections=spec.max_connections,
        headers=spec.headers,
    )
    started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    data = execute(cfg, schedule, entries, on_progress)
    mode = "open-loop" if open_loop else "closed-loop"
    target = schedule.nominal_rps if open_loop else spec.closed_rate_rps
    summary = summarize(
        data.merged,
        mode=mode,
        partial=data.partial,
        target_rps=target,
        schedule_rate=schedule.rate_between if open_loop else None,
        duration_s=duration_s,
        warmup_s=warmup_s,
        abandoned=data.abandoned,
    )
    bounds = ValidityBounds(
        max_lateness_p99_ms=spec.max_lateness_p99_ms, min_duration_s=spec.min_duration_s, min_requests=spec.min_requests
    )
    verdict, checks = check_validity(summary, bounds)
    threshold_checks = evaluate_thresholds(summary, thresholds)
    summary["verdict"] = verdict
    summary["checks"] = [c.to_dict() for c in checks]
    summary["thresholds"] = [c.to_dict() for c in threshold_checks]
    summary["thresholds_passed"] = all(c.ok for c in threshold_checks)
    config = spec.model_dump(mode="json", exclude={"mix"})
    config["mix"] = mix.model_dump(mode="json")
    config.update(workers=workers, warmup_s=warmup_s, duration_s=duration_s)
    notes = list(data.notes)
    if not open_loop:
        notes.append(
            "closed-loop run: latency is measured from the actual send (coordinated omission is "
            "not corrected); compare open-loop runs for tail latency"
        )
    if data.partial:
        notes.append("partial: the run was interrupted; figures cover what completed")
    result = build_result(
        config=config,
        seeds={"schedule": spec.seed, "payloads": spec.seed + 1},
        summary=summary,
        merged=data.merged,
        window_s=cfg.window_s,
        started_at=started_at,
        notes=notes,
    )
    return LoadTestOutcome(result, summary, exit_code(verdict, threshold_checks))
