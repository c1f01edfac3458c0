"""Finding the highest Poisson rate that meets an SLO (goodput), by doubling then bisection.

``find_peak(measure, ...)`` calls ``measure(rate_rps) -> Trial`` (a real run in the CLI, a fake in tests):
1. from ``start_rps``, double while trials pass, up to ``max_rps``;
2. bisect between the highest passing and the lowest failing rate until they are within ``tolerance``
   (relative) or ``max_trials`` is reached.
A trial passes when its run is VALID and every threshold holds. A trial that is INVALID because the generator
fell behind counts as a failure, and the result then says the peak may be limited by the harness.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["Trial", "PeakResult", "find_peak"]


@dataclass
class Trial:
    """One measured rate."""

    rate_rps: float
    passed: bool
    verdict: str = "VALID"
    summary: dict[str, Any] = field(default_factory=dict)
    harness_limited: bool = False  # invalid because the generator fell behind (rate or lateness check)


@dataclass
class PeakResult:
    """The highest passing rate found (0 if none passed) and every trial, in order."""

    peak_rps: float
    lowest_failing_rps: float | None
    trials: list[Trial]
    limited_by: str  # "slo" | "max_rps" | "harness" | "trials"

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for t in out["trials"]:
            t.pop("summary", None)
        return out


def find_peak(
    measure: Callable[[float], Trial],
    start_rps: float,
    max_rps: float,
    tolerance: float = 0.05,
    max_trials: int = 12,
    on_trial: Callable[[Trial], None] | None = None,
) -> PeakResult:
    """See the module docstring."""
    if not 0 < start_rps <= max_rps:
        raise ValueError("need 0 < start_rps <= max_rps")
    trials: list[Trial] = []

    def run(rate: float) -> Trial:
        trial = measure(rate)
        trials.append(trial)
        if on_trial is not None:
            on_trial(trial)
        return trial

    lo, hi = 0.0, None
    rate = start_rps
    while len(trials) < max_trials:
        trial = run(rate)
        if not trial.passed:
            hi = rate
            break
        lo = rate
        if rate >= max_rps:
            return PeakResult(lo, None, trials, "max_rps")
        rate = min(rate * 2.0, max_rps)
    while hi is not None and len(trials) < max_trials and (hi - lo) > tolerance * hi:
        mid = (lo + hi) / 2.0
        if run(mid).passed:
            lo = mid
        else:
            hi = mid
    if hi is None:
        return PeakResult(lo, None, trials, "trials")
    failing = [t for t in trials if not t.passed]
    harness = any(t.harness_limited for t in failing if abs(t.rate_rps - hi) < 1e-9)
    converged = (hi - lo) <= tolerance * hi
    return PeakResult(lo, hi, trials, "harness" if harness else ("slo" if converged else "trials"))
