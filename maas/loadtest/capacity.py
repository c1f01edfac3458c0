"""Capacity: the offered rate where goodput stops tracking the offered load (the knee), not an SLO at its noise floor.

Goodput is the rate of responses within their deadline (2xx per second when the mix has no deadlines). At low
load attainment sits at a *floor* below 1 that load does not cause (on the platform: the emulated network's
tail), so "the highest rate with attainment >= 0.99" lands anywhere the floor's noise puts it. Instead:

1. Measure the floor at ``start_rps`` (a low rate): attainment ``f``, with its binomial standard error.
2. A rate *keeps up* when its efficiency ``e = attainment / f`` is at least ``knee`` (default 0.9: at most 10% of
   requests lost to load, beyond what the floor already loses), and the run is valid. When ``|e - knee|`` is within
   ``z`` standard errors (attainment and floor both binomial), the trial is repeated with a new seed and pooled, up
   to ``max_repeats`` extra runs; a decision still within the noise is taken on the point estimate and marked
   ``ambiguous``.
3. Multiply the rate by ``growth`` while it keeps up (up to ``max_rps``), then bisect between the highest rate that
   keeps up and the lowest that does not until they are within ``tolerance`` (relative) or ``max_trials`` runs.
4. Report the knee (``knee_rps``: highest rate that keeps up), the highest goodput measured and the offered rate
   where it was measured, the floor beside them, and every trial. A trial the generator could not keep up with
   (INVALID for rate or lateness) counts as not keeping up and the result says ``limited_by="harness"``.

``measure(rate_rps, repeat) -> CapacityTrial`` is a real run in the CLI (``trial_from_summary``), a fake in tests.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Any

__all__ = ["CapacityTrial", "CapacityResult", "find_capacity", "trial_from_summary"]


@dataclass(frozen=True)
class CapacityTrial:
    """One measured rate (possibly several runs pooled): requests judged, those that attained, measured time."""

    rate_rps: float
    good: int
    judged: int
    measured_s: float
    valid: bool = True
    harness_limited: bool = False
    achieved_rps: float | None = None
    p99_ms: float | None = None
    refused: int = 0
    timeouts: int = 0
    runs: int = 1
    keeps_up: bool | None = None  # decided by find_capacity
    efficiency: float | None = None
    efficiency_se: float | None = None
    ambiguous: bool = False

    @property
    def attainment(self) -> float:
        return self.good / self.judged if self.judged else 0.0

    @property
    def goodput_rps(self) -> float:
        return self.good / self.measured_s if self.measured_s > 0 else 0.0

    def pooled(self, other: CapacityTrial) -> CapacityTrial:
        """This trial and another run at the same rate as one (counts and time added; worst p99; valid if both)."""
        p99s = [p for p in (self.p99_ms, other.p99_ms) if p is not None]
        runs = self.runs + other.runs
        achieved = None
        if self.achieved_rps is not None and other.achieved_rps is not None:
            achieved = (self.achieved_rps * self.runs + other.achieved_rps * other.runs) / runs
        return replace(
            self,
            good=self.good + other.good,
            judged=self.judged + other.judged,
            measured_s=self.measured_s + other.measured_s,
            valid=self.valid and other.valid,
            harness_limited=self.harness_limited or other.harness_limited,
            achieved_rps=achieved,
            p99_ms=max(p99s) if p99s else None,
            refused=self.refused + other.refused,
            timeouts=self.timeouts + other.timeouts,
            runs=runs,
        )

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["attainment"] = round(self.attainment, 6)
        out["goodput_rps"] = round(self.goodput_rps, 4)
        return out


@dataclass
class CapacityResult:
    """The knee, the highest goodput measured, the floor, and every trial in the order run."""

    knee_rps: float
    lowest_failing_rps: float | None
    max_goodput_rps: float
    max_goodput_at_rps: float
    floor_attainment: float
    floor_se: float
    floor_rps: float
    limited_by: str  # "knee" | "max_rps" | "harness" | "trials" | "floor"
    trials: list[CapacityTrial]
    knee: float

    @property
    def peak_rps(self) -> float:
        """The capacity to quote: the knee."""
        return self.knee_rps

    def to_dict(self) -> dict[str, Any]:
        return {
            "peak_rps": self.knee_rps,
            "knee_rps": self.knee_rps,
            "lowest_failing_rps": self.lowest_failing_rps,
            "max_goodput_rps": round(self.max_goodput_rps, 4),
            "max_goodput_at_rps": self.max_goodput_at_rps,
            "floor_attainment": round(self.floor_attainment, 6),
            "floor_se": round(self.floor_se, 6),
            "floor_rps": self.floor_rps,
            "knee": self.knee,
            "limited_by": self.limited_by,
            "trials": [t.to_dict() for t in self.trials],
        }


def _var(good: int, judged: int) -> float:
    """Binomial variance of a proportion, with one pseudo-success and one pseudo-failure so 0/n and n/n have one."""
    p = (good + 1.0) / (judged + 2.0)
    return p * (1.0 - p) / max(judged, 1)


def _efficiency(trial: CapacityTrial, floor: CapacityTrial) -> tuple[float, float]:
    """``attainment / floor`` and its standard error (delta method, independent binomials)."""
    f = max(floor.attainment, 1e-9)
    e = trial.attainment / f
    rel = _var(trial.good, trial.judged) / max(trial.attainment, 1e-9) ** 2 + _var(floor.good, floor.judged) / f**2
    return e, e * math.sqrt(rel)


def find_capacity(
    measure: Callable[[float, int], CapacityTrial],
    start_rps: float,
    max_rps: float,
    *,
    knee: float = 0.9,
    z: float = 2.0,
    max_repeats: int = 2,
    tolerance: float = 0.05,
    growth: float = 2.0,
    max_trials: int = 14,
    on_trial: Callable[[CapacityTrial], None] | None = None,
) -> CapacityResult:
    """See the module docstring. ``max_trials`` counts runs, repeats included."""
    if not 0 < start_rps <= max_rps:
        raise ValueError("need 0 < start_rps <= max_rps")
    if not 0 < knee <= 1 or growth <= 1 or not 0 < tolerance < 1 or max_repeats < 0:
        raise ValueError("need 0 < knee <= 1, growth > 1, 0 < tolerance < 1, max_repeats >= 0")
    trials: list[CapacityTrial] = []
    runs = 0

    def run(rate: float, repeat: int) -> CapacityTrial:
        nonlocal runs
        runs += 1
        return measure(rate, repeat)

    floor = run(start_rps, 0)
    if not floor.valid or floor.judged == 0:
        floor = replace(floor, keeps_up=False)
        trials.append(floor)
        if on_trial is not None:
            on_trial(floor)
        return _result(trials, None, floor, "harness" if floor.harness_limited else "floor", knee)
    floor = replace(floor, keeps_up=True, efficiency=1.0, efficiency_se=0.0)
    trials.append(floor)
    if on_trial is not None:
        on_trial(floor)

    def judge(rate: float) -> CapacityTrial:
        t = run(rate, 0)
        repeat = 0
        while True:
            if not t.valid:
                t = replace(t, keeps_up=False)
                break
            e, se = _efficiency(t, floor)
            noisy = abs(e - knee) < z * se
            if noisy and repeat < max_repeats and runs < max_trials:
                repeat += 1
                t = t.pooled(run(rate, repeat))
                continue
            t = replace(t, keeps_up=e >= knee, efficiency=round(e, 6), efficiency_se=round(se, 6), ambiguous=noisy)
            break
        trials.append(t)
        if on_trial is not None:
            on_trial(t)
        return t

    lo, hi = start_rps, None
    rate = start_rps
    while runs < max_trials and rate < max_rps:
        rate = min(rate * growth, max_rps)
        if judge(rate).keeps_up:
            lo = rate
        else:
            hi = rate
            break
    if hi is None:
        return _result(trials, None, floor, "max_rps" if lo >= max_rps else "trials", knee)
    while runs < max_trials and (hi - lo) > tolerance * hi:
        mid = (lo + hi) / 2.0
        if judge(mid).keeps_up:
            lo = mid
        else:
            hi = mid
    at_hi = [t for t in trials if abs(t.rate_rps - hi) < 1e-9]
    if any(t.harness_limited for t in at_hi):
        why = "harness"
    else:
        why = "knee" if (hi - lo) <= tolerance * hi else "trials"
    return _result(trials, hi, floor, why, knee)


def _result(trials: list[CapacityTrial], hi: float | None, floor: CapacityTrial, why: str,
            knee: float) -> CapacityResult:
    keeping = [t.rate_rps for t in trials if t.keeps_up]
    best = max((t for t in trials if t.valid), key=lambda t: t.goodput_rps, default=None)
    return CapacityResult(
        knee_rps=max(keeping) if keeping else 0.0,
        lowest_failing_rps=hi,
        max_goodput_rps=best.goodput_rps if best else 0.0,
        max_goodput_at_rps=best.rate_rps if best else 0.0,
        floor_attainment=floor.attainment,
        floor_se=math.sqrt(_var(floor.good, floor.judged)),
        floor_rps=floor.rate_rps,
        limited_by=why,
        trials=trials,
        knee=knee,
    )


def trial_from_summary(rate_rps: float, summary: dict[str, Any]) -> CapacityTrial:
    """A trial from a load-test summary (``maas.loadtest.result.summarize`` plus the verdict and checks)."""
    if summary.get("slo_requests"):
        good, judged = int(summary["slo_met"]), int(summary["slo_requests"])
    else:
        judged = int(summary["requests"])
        good = judged - int(summary["errors"])
    status = summary.get("status_counts", {})
    behind = any(c["name"] in ("achieved_rate", "dispatch_lateness_p99") and not c["ok"]
                 for c in summary.get("checks", []))
    return CapacityTrial(
        rate_rps=rate_rps,
        good=good,
        judged=judged,
        measured_s=float(summary["measured_s"]),
        valid=summary.get("verdict", "VALID") == "VALID",
        harness_limited=behind,
        achieved_rps=summary.get("achieved_rps"),
        p99_ms=summary.get("latency_ms", {}).get("p99"),
        refused=int(status.get("503", 0)) + int(status.get("429", 0)),
        timeouts=int(summary.get("timeouts", 0)),
    )
