"""Validity of a run (did the generator do what it was asked?) and user thresholds (did the server pass?).

Validity checks, each shown with its value and bound:
- ``complete``: the run was not interrupted;
- ``achieved_rate`` (open loop): achieved rate >= 0.99 x the schedule's rate over the measured window;
- ``dispatch_lateness_p99`` (open loop): p99 of (actual - intended send) <= a bound;
- ``min_duration`` and ``min_requests``: enough measured time and requests after the warm-up.

Thresholds are expressions ``metric op value[unit]``, e.g. ``p99<50ms``, ``error_rate<0.1%``,
``slo_attainment>=0.99``, ``service_p50<=20ms``, ``achieved_rps>=100``.

Exit codes: 0 pass, 1 tool error, 2 usage error, 3 a threshold failed, 4 invalid run.
"""

from __future__ import annotations

import operator
import re
from dataclasses import asdict, dataclass
from typing import Any

from maas.errors import InvalidInput

__all__ = [
    "EXIT_OK",
    "EXIT_TOOL",
    "EXIT_USAGE",
    "EXIT_THRESHOLD",
    "EXIT_INVALID",
    "Check",
    "ValidityBounds",
    "Threshold",
    "parse_threshold",
    "check_validity",
    "evaluate_thresholds",
    "exit_code",
    "THRESHOLD_METRICS",
]

EXIT_OK, EXIT_TOOL, EXIT_USAGE, EXIT_THRESHOLD, EXIT_INVALID = 0, 1, 2, 3, 4


@dataclass(frozen=True)
class Check:
    """One named check: did ``value`` satisfy ``bound``?"""

    name: str
    ok: bool
    value: float | str | None
    bound: str
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ValidityBounds:
    """What a valid run needs."""

    min_rate_ratio: float = 0.99
    max_lateness_p99_ms: float = 5.0
    min_duration_s: float = 10.0
    min_requests: int = 500


def check_validity(summary: dict[str, Any], bounds: ValidityBounds) -> tuple[str, list[Check]]:
    """``("VALID"|"INVALID", checks)`` from a run summary (see ``maas.loadtest.result.summarize``)."""
    checks = [
        Check("complete", not summary["partial"], "partial" if summary["partial"] else "complete", "not interrupted")
    ]
    if summary["mode"] == "open-loop":
        scheduled = summary["scheduled_rps"] or 0.0
        achieved = summary["achieved_rps"] or 0.0
        ratio = achieved / scheduled if scheduled > 0 else 0.0
        checks.append(
            Check(
                "achieved_rate",
                ratio >= bounds.min_rate_ratio,
                round(achieved, 3),
                f">= {bounds.min_rate_ratio:g} x {scheduled:.3f} rps scheduled",
                f"ratio {ratio:.4f}",
            )
        )
        p99 = summary["lateness_ms"]["p99"]
        checks.append(
            Check(
                "dispatch_lateness_p99",
                p99 is not None and p99 <= bounds.max_lateness_p99_ms,
                p99,
                f"<= {bounds.max_lateness_p99_ms:g} ms",
            )
        )
    checks.append(
        Check(
            "min_duration",
            summary["measured_s"] >= bounds.min_duration_s,
            round(summary["measured_s"], 3),
            f">= {bounds.min_duration_s:g} s",
            f"warm-up of {summary['warmup_s']:g} s excluded",
        )
    )
    checks.append(
        Check(
            "min_requests", summary["requests"] >= bounds.min_requests, summary["requests"], f">= {bounds.min_requests}"
        )
    )
    return ("VALID" if all(c.ok for c in checks) else "INVALID"), checks


_OPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
_UNITS = {"ms": 1.0, "s": 1000.0, "us": 0.001, "%": 0.01, "": 1.0}
THRESHOLD_METRICS: dict[str, str] = {
    **{p: "latency_ms" for p in ("p50", "p90", "p99", "p999", "max", "mean")},
    **{f"latency_{p}": "latency_ms" for p in ("p50", "p90", "p99", "p999", "max", "mean")},
    **{f"service_{p}": "service_ms" for p in ("p50", "p90", "p99", "p999", "max", "mean")},
    **{f"lateness_{p}": "lateness_ms" for p in ("p50", "p90", "p99", "p999", "max", "mean")},
    "error_rate": "ratio",
    "slo_attainment": "ratio",
    "platform_deadline_met": "ratio",
    "achieved_rps": "rate",
    "throughput_rps": "rate",
    "energy_j_per_request": "plain",
}
_RE = re.compile(r"^\s*([a-z0-9_]+)\s*(<=|>=|<|>)\s*([0-9]*\.?[0-9]+(?:e-?[0-9]+)?)\s*(ms|s|us|%)?\s*$")


@dataclass(frozen=True)
class Threshold:
    """A parsed threshold: ``metric op value`` with the value in the metric's unit (ms or a ratio)."""

    text: str
    metric: str
    op: str
    value: float

    def holds(self, actual: float) -> bool:
        return _OPS[self.op](actual, self.value)


def parse_threshold(text: str) -> Threshold:
    """Parse ``p99<50ms``-style text; ``InvalidInput`` with the allowed forms when it does not parse."""
    m = _RE.match(text.lower())
    allowed = "metrics: " + ", ".join(sorted(THRESHOLD_METRICS)) + "; ops: < <= > >=; units: ms s us %"
    if not m:
        raise InvalidInput(f"threshold {text!r} does not parse ({allowed})")
    metric, op, number, unit = m.group(1), m.group(2), float(m.group(3)), m.group(4) or ""
    kind = THRESHOLD_METRICS.get(metric)
    if kind is None:
        raise InvalidInput(f"threshold {text!r}: unknown metric {metric!r} ({allowed})")
    if kind.endswith("_ms"):
        if unit == "%":
            raise InvalidInput(f"threshold {text!r}: a latency needs ms, s or us")
        value = number * _UNITS[unit]
    elif kind == "ratio":
        if unit not in ("", "%"):
            raise InvalidInput(f"threshold {text!r}: a ratio takes no time unit (use 0.001 or 0.1%)")
        value = number * _UNITS[unit]
    else:
        if unit:
            raise InvalidInput(f"threshold {text!r}: {metric} takes no unit")
        value = number
    return Threshold(text, metric, op, value)


def _metric_value(summary: dict[str, Any], metric: str) -> float | None:
    kind = THRESHOLD_METRICS[metric]
    if kind.endswith("_ms"):
        key = metric.split("_", 1)[1] if "_" in metric else metric
        return summary[kind].get(key)
    return summary.get(metric)


def evaluate_thresholds(summary: dict[str, Any], thresholds: list[Threshold]) -> list[Check]:
    """One check per threshold; a metric the run does not have (e.g. no deadlines) fails the check."""
    out = []
    for t in thresholds:
        actual = _metric_value(summary, t.metric)
        ok = actual is not None and t.holds(float(actual))
        out.append(
            Check(
                t.text,
                ok,
                actual,
                f"{t.metric} {t.op} {t.value:g}" + (" ms" if THRESHOLD_METRICS[t.metric].endswith("_ms") else ""),
                "" if actual is not None else "metric not available in this run",
            )
        )
    return out


def exit_code(verdict: str, threshold_checks: list[Check]) -> int:
    """4 if the run is invalid (its figures cannot be trusted), else 3 if a threshold failed, else 0."""
    if verdict != "VALID":
        return EXIT_INVALID
    if any(not c.ok for c in threshold_checks):
        return EXIT_THRESHOLD
    return EXIT_OK
