"""The routing extension point: a policy only ranks tiers.

Lifecycle of a policy inside the gateway (or the simulator):
1. It is built once from its name and options (``build_policy``), with a clock if it needs one.
2. For each request the caller builds a ``RouteRequest`` and one ``TierView`` per tier (estimates from the tier
   models plus live queue state, see ``maas.routing.views.views_from_estimates``) and calls
   ``choose(request, views)``.
3. ``choose`` returns tier names, best first. Feasible tiers come first; the caller decides what to do when the
   list is empty or its first entry is infeasible (admission, strict deadlines, retries are the caller's job).
   ``decide(request, views)`` returns the same ranking plus per-tier feasibility and reasons (a ``Decision``),
   ``choose_checked`` the ranking and one flag, cheaply: a caller with a strict request answers 503 (with
   ``decide(...).reasons``) when the flag / ``decision.feasible`` is False.
4. After a request completes the caller may call ``observe(...)`` so the policy can correct its estimates.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field

__all__ = ["OBJECTIVES", "RouteRequest", "TierView", "RoutingPolicy", "Observation", "Decision", "basic_feasibility"]

_INF = math.inf

OBJECTIVES = ("latency", "balanced", "energy", "carbon")
"""What a request may ask the router to optimise (hints, policies, the route CLI and tenants' defaults)."""


@dataclass(slots=True)
class RouteRequest:
    """What the router knows about one request.

    Read-only by convention, like ``TierView``: one is built per request (the simulator builds millions), and a
    frozen dataclass's ``__init__`` costs ~1.3 us here against ~0.4 us."""

    model: str
    site: str
    objective: str = "latency"  # latency | balanced | energy | carbon
    deadline_ms: float | None = None
    strict: bool = False
    priority: int = 5  # 0 (background) .. 9 (most urgent), as tenants' priority classes; 5 is normal
    input_bytes: int = 0
    pinned_tier: str | None = None
    output_bytes: int = 0
    tenant: str = ""
    request_id: int = -1
    epsilon: float | None = None  # per-request override of the policy's deadline miss probability


@dataclass(slots=True)
class TierView:
    """One tier as seen for one request: availability and estimated latency/energy parts.

    Read-only by convention (policies must not modify views). Not frozen because views are built on the hot
    path, four per request: a frozen dataclass's ``__init__`` costs ~2.3 us here against ~0.25 us.

    ``network_p99_ms`` is the p99 of uplink + downlink (None: treat the network as deterministic);
    ``window_left_ms`` is how long the tier stays reachable from now (satellite contact window, inf otherwise);
    ``battery_after_j``/``battery_reserve_j`` are the battery after this request and its reserve (inf/0 when the
    tier has no battery); ``replica`` is the replica picked inside the tier (power-of-two choices).
    """

    tier: str
    available: bool
    reason: str | None = None
    uplink_ms: float = 0.0
    downlink_ms: float = 0.0
    queue_ms: float = 0.0
    compute_ms: float = 0.0
    platform_ms: float = 0.0
    energy_j: float = 0.0
    carbon_g: float = 0.0
    in_flight: int = 0
    slots: int = 1
    kind: str = ""
    network_p99_ms: float | None = None
    window_left_ms: float = _INF
    battery_after_j: float = _INF
    battery_reserve_j: float = 0.0
    replica: int = 0

    @property
    def latency_ms(self) -> float:
        return self.uplink_ms + self.queue_ms + self.compute_ms + self.downlink_ms + self.platform_ms

    @property
    def network_ms(self) -> float:
        return self.uplink_ms + self.downlink_ms


@dataclass(slots=True)
class Observation:
    """A completed request, for online correction of estimates (read-only by convention: one per request).

    ``estimated_ms`` is the view's uncorrected ``latency_ms`` and ``network_ms`` its ``network_ms`` (uplink +
    downlink) when the request was routed; ``energy_j``/``at_s`` feed the energy budgets."""

    request: RouteRequest
    tier: str
    estimated_ms: float
    observed_ms: float
    energy_j: float = 0.0
    at_s: float | None = None
    network_ms: float | None = None


@dataclass(slots=True)
class Decision:
    """A ranking with the reasons: ``feasible`` is True when the first tier is expected to meet the request."""

    ranking: list[str]
    feasible: bool
    reasons: dict[str, str]
    expected_ms: dict[str, float] = field(default_factory=dict)
    quantile_ms: dict[str, float] = field(default_factory=dict)  # the latency the chance constraint tested

    def explain(self) -> dict:
        """A JSON-ready summary for response ``parameters`` and ``maas route explain``."""
        return {
            "ranking": list(self.ranking),
            "feasible": self.feasible,
            "reasons": dict(self.reasons),
            "expected_ms": {k: round(v, 3) for k, v in self.expected_ms.items()},
        }


def basic_feasibility(request: RouteRequest, view: TierView) -> str | None:
    """Why ``view`` cannot serve ``request`` on mean estimates (None: it can). Used by every baseline."""
    if not view.available:
        return view.reason or "unavailable"
    lat = view.latency_ms
    if request.deadline_ms is not None and lat > request.deadline_ms:
        return f"expected {lat:.1f} ms > deadline {request.deadline_ms:g} ms"
    if lat > view.window_left_ms:
        return f"contact window ends in {view.window_left_ms:.0f} ms"
    if view.battery_after_j < view.battery_reserve_j:
        return "battery would fall below its reserve"
    return None


class RoutingPolicy(ABC):
    """Ranks tiers for a request. Subclasses implement ``choose``; ``observe`` is optional."""

    name: str = "policy"

    @abstractmethod
    def choose(self, request: RouteRequest, views: list[TierView]) -> list[str]:
        """Return tier names, best first; available tiers before unavailable ones."""

    def observe(self, observation: Observation) -> None:  # noqa: B027 - optional hook
        """Learn from a completed request (default: nothing)."""

    def choose_checked(self, request: RouteRequest, views: list[TierView]) -> tuple[list[str], bool]:
        """``choose`` plus whether its first tier is expected to meet the request (cheap: no reasons built).

        A caller serving a strict request answers 503 when the flag is False."""
        ranking = self.choose(request, views)
        if not ranking:
            return ranking, False
        first = ranking[0]
        for v in views:
            if v.tier == first:
                return ranking, basic_feasibility(request, v) is None
        return ranking, False

    def decide(self, request: RouteRequest, views: list[TierView]) -> Decision:
        """``choose`` plus feasibility on mean estimates; policies with a richer model override it."""
        ranking = self.choose(request, views)
        reasons: dict[str, str] = {}
        expected: dict[str, float] = {}
        for v in views:
            expected[v.tier] = v.latency_ms
            why = basic_feasibility(request, v)
            if why is not None:
                reasons[v.tier] = why
        feasible = bool(ranking) and ranking[0] not in reasons
        return Decision(ranking, feasible, reasons, expected)
