"""How many compute slots of a (model, tier) are active: Ray Serve's default autoscaling rule on a virtual or wall
clock, so the live worker and the simulator scale the same way.

The rule (``ray.serve.autoscaling_policy.replica_queue_length_autoscaling_policy`` and ``_apply_delay_logic`` in
Ray 2.60, with scaling factors 1):
1. ``observe(now_s, ongoing)`` every ``metrics_interval_s``: requests at the worker, waiting or running.
2. ``decide(now_s)``: the mean of the samples within ``look_back_period_s``, over ``target_ongoing_requests``,
   rounded up and bounded to [``min_slots``, ``max_slots``], is the slots *wanted*.
3. More than the target: once wanted continuously for ``upscale_delay_s`` the target becomes it; fewer: likewise
   after ``downscale_delay_s`` (Serve steps down at least one replica then, and so does this). A change of
   direction, or wanting the target itself, restarts the wait.
4. The caller turns the target into active slots; a slot added starts after ``slot_start_s`` (the worker's job).
"""

from __future__ import annotations

import math
from collections import deque

from maas.tiers.spec import AutoscalingSpec

__all__ = ["SlotAutoscaler"]

_EPS_S = 1e-6  # Serve's tolerance for delay comparisons


class SlotAutoscaler:
    """The target number of active slots of one (model, tier) worker with ``max_slots`` slots."""

    def __init__(self, spec: AutoscalingSpec, max_slots: int, now_s: float) -> None:
        if not 1 <= spec.min_slots <= max_slots:
            raise ValueError(f"min_slots must be within 1..{max_slots}, got {spec.min_slots}")
        self.spec = spec
        self.max_slots = max_slots
        self.target = spec.min_slots
        self._samples: deque[tuple[float, float]] = deque()
        self._wanting_since_s: float | None = None
        self._direction = 0  # +1 wanting more, -1 wanting fewer, 0 neither
        self.decided_s = now_s

    def observe(self, now_s: float, ongoing: float) -> None:
        """One sample of the requests at the worker (waiting + running)."""
        self._samples.append((now_s, ongoing))
        horizon_s = now_s - self.spec.look_back_period_s
        while self._samples and self._samples[0][0] < horizon_s - _EPS_S:
            self._samples.popleft()

    def wanted(self) -> int:
        """Slots for the mean request count of the look-back window at the target per slot, within bounds."""
        if not self._samples:
            return self.target
        mean = sum(n for _, n in self._samples) / len(self._samples)
        want = math.ceil(mean / self.spec.target_ongoing_requests - 1e-9)
        return max(self.spec.min_slots, min(self.max_slots, want))

    def decide(self, now_s: float) -> int:
        """The target after this control step (steps 2-3 of the module docstring)."""
        want = self.wanted()
        direction = (want > self.target) - (want < self.target)
        if direction == 0:
            self._direction, self._wanting_since_s = 0, None
            return self.target
        if direction != self._direction or self._wanting_since_s is None:
            self._direction, self._wanting_since_s = direction, now_s
        delay_s = self.spec.upscale_delay_s if direction > 0 else self.spec.downscale_delay_s
        if now_s - self._wanting_since_s + _EPS_S >= delay_s:
            self.target = want
            self._direction, self._wanting_since_s = 0, None
            self.decided_s = now_s
        return self.target
