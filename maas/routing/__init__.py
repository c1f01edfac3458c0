"""Routing: policies rank tiers for a request (see ``policy.RoutingPolicy``).

``build_policy(name, **options)`` builds any registered policy; ``policy_names(tiers)`` lists them all, with one
``single-tier-<tier>`` per tier. ``views_from_estimates`` turns tier-model estimates plus live queues into views.
"""

from maas.routing.baselines import (
    EdgeCloudSimThresholdPolicy,
    GreedyEnergyPolicy,
    GreedyLatencyPolicy,
    LeastLoadedPolicy,
    NearestPolicy,
    RandomPolicy,
    RoundRobinPolicy,
    SingleTierPolicy,
)
from maas.routing.edge_aware import EdgeAwarePolicy
from maas.routing.lowest_latency import LowestLatencyPolicy
from maas.routing.policy import (
    OBJECTIVES,
    Decision,
    Observation,
    RouteRequest,
    RoutingPolicy,
    TierView,
    basic_feasibility,
)
from maas.routing.views import TierQueue, pick_replica, queue_wait_ms, views_from_estimates

__all__ = [
    "RoutingPolicy",
    "RouteRequest",
    "TierView",
    "Observation",
    "Decision",
    "basic_feasibility",
    "LowestLatencyPolicy",
    "EdgeAwarePolicy",
    "OBJECTIVES",
    "TierQueue",
    "queue_wait_ms",
    "pick_replica",
    "views_from_estimates",
    "build_policy",
    "policy_names",
    "MAIN_POLICY",
]

MAIN_POLICY = EdgeAwarePolicy.name
SINGLE_TIER_PREFIX = "single-tier-"

_POLICIES: dict[str, type[RoutingPolicy]] = {
    cls.name: cls
    for cls in (
        EdgeAwarePolicy,
        LowestLatencyPolicy,
        RandomPolicy,
        RoundRobinPolicy,
        NearestPolicy,
        LeastLoadedPolicy,
        GreedyLatencyPolicy,
        GreedyEnergyPolicy,
        EdgeCloudSimThresholdPolicy,
    )
}


def policy_names(tiers: list[str] | tuple[str, ...] = ()) -> list[str]:
    """Every buildable policy name: the main policy first, then baselines, then one single-tier per tier."""
    names = [MAIN_POLICY] + sorted(n for n in _POLICIES if n != MAIN_POLICY)
    return names + [SINGLE_TIER_PREFIX + t for t in tiers]


def build_policy(name: str, **options: object) -> RoutingPolicy:
    """Build a policy by its configured name; unknown names raise ValueError listing the allowed ones.

    ``single-tier-<tier>`` builds a ``SingleTierPolicy`` for that tier. Options are the policy's keyword
    arguments (e.g. ``epsilon``, ``energy_budget_w``, ``clock`` for ``edge-aware``; ``seed`` for ``random``).
    """
    if name.startswith(SINGLE_TIER_PREFIX) and len(name) > len(SINGLE_TIER_PREFIX):
        return SingleTierPolicy(name[len(SINGLE_TIER_PREFIX):], **options)  # type: ignore[arg-type]
    try:
        cls = _POLICIES[name]
    except KeyError:
        allowed = ", ".join(policy_names()) + ", single-tier-<tier>"
        raise ValueError(f"unknown routing policy {name!r} (allowed: {allowed})") from None
    return cls(**options)
