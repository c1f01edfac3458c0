"""First placement policy: the feasible tier with the lowest estimated latency."""

from __future__ import annotations

from maas.routing.policy import RouteRequest, RoutingPolicy, TierView

__all__ = ["LowestLatencyPolicy"]


class LowestLatencyPolicy(RoutingPolicy):
    """Available tiers that meet the deadline first (by estimated latency), then the rest by latency."""

    name = "lowest-latency"

    def choose(self, request: RouteRequest, views: list[TierView]) -> list[str]:
        if request.pinned_tier is not None:
            return [v.tier for v in views if v.tier == request.pinned_tier]
        deadline = request.deadline_ms if request.deadline_ms is not None else float("inf")

        def key(v: TierView) -> tuple[int, float]:
            feasible = v.available and v.latency_ms <= deadline
            rank = 0 if feasible else (1 if v.available else 2)
            return rank, v.latency_ms

        return [v.tier for v in sorted(views, key=key)]
