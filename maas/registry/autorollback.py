"""The automatic rollback decision, pure: is the canary worse than the stable version over the same window?

    decision = judge(stable, canary, error_margin=0.05, attainment_margin=0.10, min_requests=20)
    # None: keep the canary; else the reason, recorded in the rollout history

Errors are responses with status >= 500 (the platform failed; a 4xx is the caller's). Deadline attainment is the
share of requests that carried a deadline and met it. Both are compared only once the canary served
``min_requests`` in the window, so one unlucky request does not roll a canary back.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["WindowStats", "judge"]


@dataclass(frozen=True)
class WindowStats:
    """One version's requests over the window: how many, how many failed, how many had / met a deadline."""

    requests: int = 0
    errors: int = 0
    with_deadline: int = 0
    deadline_met: int = 0

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0

    @property
    def attainment(self) -> float | None:
        return self.deadline_met / self.with_deadline if self.with_deadline else None


def judge(
    stable: WindowStats,
    canary: WindowStats,
    *,
    error_margin: float,
    attainment_margin: float,
    min_requests: int,
    window_s: float | None = None,
) -> str | None:
    """The reason to roll the canary back, or None. Worse means: error rate above stable's by more than
    ``error_margin`` (absolute), or deadline attainment below stable's by more than ``attainment_margin``."""
    if canary.requests < max(min_requests, 1):
        return None
    over = f" over the last {window_s:.0f} s" if window_s is not None else ""
    if canary.error_rate - stable.error_rate > error_margin:
        return (
            f"error rate {canary.error_rate:.1%} ({canary.errors}/{canary.requests}) vs stable "
            f"{stable.error_rate:.1%} ({stable.errors}/{stable.requests}){over}: worse by more than {error_margin:.0%}"
        )
    a_canary, a_stable = canary.attainment, stable.attainment
    if a_canary is not None and a_stable is not None and a_stable - a_canary > attainment_margin:
        return (
            f"deadline attainment {a_canary:.1%} ({canary.deadline_met}/{canary.with_deadline}) vs stable "
            f"{a_stable:.1%} ({stable.deadline_met}/{stable.with_deadline}){over}: worse by more than "
            f"{attainment_margin:.0%}"
        )
    return None
