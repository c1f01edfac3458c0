"""Self-test: show that the corrected tail catches a server stall that a closed-loop measurement hides.

1. Start a local stub V2 server that stalls once for ``stall_s`` part-way through the run.
2. Open loop at a constant ``rate_rps``: latency is measured from the intended send time (corrected).
3. Against a fresh stub with the same stall: a closed loop with one sender paced to the same rate, latency from
   the actual send (what coordinated-omission-prone tools report), plus that histogram post-corrected with
   HdrHistogram's ``record_corrected_value`` for comparison.
4. Pass when the corrected p99 sees at least half the stall and the uncorrected p99 stays under a tenth of it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from maas.loadtest import histograms as H
from maas.loadtest.harness import LoadTestSpec, run_loadtest
from maas.loadtest.mix import single_model_mix
from maas.loadtest.runner import Progress
from maas.loadtest.schedule import ArrivalSpec
from maas.loadtest.stubserver import StubServer, StubSettings

__all__ = ["run_selftest", "post_corrected_ms"]


def post_corrected_ms(encoded: str, expected_interval_s: float) -> dict[str, float | None]:
    """Percentiles of a histogram re-recorded with HdrHistogram's coordinated-omission correction."""
    src = H.decode(encoded)
    out = H.new_histogram()
    interval_us = int(expected_interval_s * 1e6)
    for item in src.get_recorded_iterator():
        out.record_corrected_value(item.value_iterated_to, interval_us, item.count_at_value_iterated_to)
    return H.summarize_ms(out)


def run_selftest(
    stall_s: float = 1.0,
    rate_rps: float = 200.0,
    duration_s: float = 8.0,
    on_progress: Callable[[Progress], None] | None = None,
) -> dict[str, Any]:
    """Run both measurements (see the module docstring) and return the comparison."""
    settings = StubSettings(delay_ms=0.5, stall_at_s=duration_s * 0.4, stall_s=stall_s)
    common = dict(
        mix=single_model_mix("digits-mlp"),
        arrival=ArrivalSpec(kind="constant", rate_rps=rate_rps, duration_s=duration_s),
        warmup_s=0.5,
        min_duration_s=0.0,
        min_requests=0,
        workers=1,
        timeout_s=stall_s + 10.0,
    )
    with StubServer(settings) as server:
        corrected = run_loadtest(LoadTestSpec(url=server.url, **common), on_progress).summary
    with StubServer(settings) as server:
        closed_out = run_loadtest(
            LoadTestSpec(url=server.url, mode="closed", concurrency=1, closed_rate_rps=rate_rps, **common), on_progress
        )
    closed = closed_out.summary
    stall_ms = stall_s * 1000.0
    c99, u99 = corrected["latency_ms"]["p99"] or 0.0, closed["latency_ms"]["p99"] or 0.0
    passed = c99 >= 0.5 * stall_ms and u99 < 0.1 * stall_ms
    return {
        "stall_ms": stall_ms,
        "rate_rps": rate_rps,
        "duration_s": duration_s,
        "corrected_ms": corrected["latency_ms"],
        "service_ms": corrected["service_ms"],
        "uncorrected_ms": closed["latency_ms"],
        "post_corrected_ms": post_corrected_ms(closed_out.result["hdr"]["latency"], 1.0 / rate_rps),
        "requests": {"open_loop": corrected["requests"], "closed_loop": closed["requests"]},
        "passed": passed,
        "explanation": (
            f"a {stall_ms:.0f} ms stall: open-loop p99 {c99:.1f} ms vs closed-loop (uncorrected) p99 {u99:.1f} ms"
        ),
    }
