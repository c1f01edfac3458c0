"""Long-run energy budgets held with Lyapunov virtual queues (drift-plus-penalty).

Each budgeted tier ``k`` has a budget ``B_k`` watts and a virtual queue ``Q_k`` joules:
``Q_k <- max(Q_k - B_k * dt, 0) + e`` for every joule ``e`` spent on it. The router adds ``Q_k / V * e`` to a
request's cost on tier ``k`` (drift-plus-penalty with trade-off ``V``), so a tier spending above its budget
becomes progressively more expensive until its average falls back under ``B_k``, without knowing the future.
"""

from __future__ import annotations

__all__ = ["EnergyBudgets"]


class EnergyBudgets:
    """Virtual energy queues per tier; ``weight(tier)`` is the price per joule the router adds."""

    __slots__ = ("budget_w", "v", "queue_j", "_last_s")

    def __init__(self, budget_w: dict[str, float] | None = None, v: float = 100.0) -> None:
        if v <= 0:
            raise ValueError("lyapunov V must be > 0")
        for tier, watts in (budget_w or {}).items():
            if watts < 0:
                raise ValueError(f"energy budget for {tier!r} must be >= 0 W")
        self.budget_w = dict(budget_w or {})
        self.v = float(v)
        self.queue_j: dict[str, float] = {t: 0.0 for t in self.budget_w}
        self._last_s: dict[str, float] = {}

    def record(self, tier: str, energy_j: float, at_s: float) -> None:
        """Spend ``energy_j`` on ``tier`` at time ``at_s`` (drains the budget accrued since the last record)."""
        budget = self.budget_w.get(tier)
        if budget is None:
            return
        last = self._last_s.get(tier, at_s)
        dt = at_s - last if at_s > last else 0.0
        self._last_s[tier] = max(last, at_s)
        q = self.queue_j[tier] - budget * dt
        self.queue_j[tier] = (q if q > 0.0 else 0.0) + energy_j

    def weight(self, tier: str) -> float:
        """Extra cost per joule on ``tier`` now (0 for tiers without a budget)."""
        q = self.queue_j.get(tier)
        return 0.0 if q is None else q / self.v
