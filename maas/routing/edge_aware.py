"""The main policy: deadline as a chance constraint, objective-driven, corrected online, within energy budgets.

For each tier view it computes (all corrected by the online ratio of ``LatencyCorrector``):
- expected latency = uplink + downlink + queue + compute + platform;
- the (1 - epsilon) quantile of latency, with the network part lognormal: median uplink + downlink, p99
  ``network_p99_ms``, so ``q = median * (p99 / median) ** (z(1 - eps) / z(0.99))``; the rest deterministic.
Once enough completions are known, the quantile is the estimate plus the empirical (1 - epsilon) quantile of the
residual (observed - estimated) per ms of network estimate on that tier (``LatencyCorrector.quantile``: the tail
calibrated online). Evidence about a tier fades after ``correction_fade_s`` without completions, so a tier that
early bad luck made look slow is tried again.
A tier is feasible when it is available, its quantile meets the deadline and fits in the contact window, and the
battery stays above its reserve. Feasible tiers are ranked by the objective plus the Lyapunov energy price
(``EnergyBudgets``): ``latency`` (expected ms), ``energy`` (J), ``carbon`` (g), ``balanced``
(``w * latency / deadline + (1 - w) * energy / least feasible energy``). When none is feasible the available tiers
follow, most likely to meet the deadline first (lognormal CDF of the network part; without a deadline, by expected
latency): best effort on the fastest tier. A strict request is admitted there when that tier still meets its
deadline with probability at least ``strict_min_p_meet`` (default 0.5: more likely than not, the usual admission
rule of deadline schedulers; the chance constraint's 1 - epsilon decides only which tiers rank first). Otherwise
``decide().feasible`` / ``choose_checked()[1]`` is False and a caller serving a strict request answers 503 with
``decide().reasons``. ``strict_min_p_meet`` 1.0 refuses every strict request no tier passes the chance
constraint for (the rule before issue 14).
"""

from __future__ import annotations

import math
from statistics import NormalDist

from maas.clock import Clock
from maas.routing.budget import EnergyBudgets
from maas.routing.correction import LatencyCorrector
from maas.routing.policy import OBJECTIVES, Decision, Observation, RouteRequest, RoutingPolicy, TierView

__all__ = ["EdgeAwarePolicy", "OBJECTIVES"]

_Z99 = NormalDist().inv_cdf(0.99)
_INF = math.inf
_SQRT2 = math.sqrt(2.0)


def _miss_probability(net: float, p99: float | None, rest: float, ratio: float, deadline: float) -> float:
    """P(latency > deadline) with a lognormal network part (median ``net``, p99 ``p99``) plus fixed ``rest``."""
    budget = deadline / ratio - rest
    if budget <= 0.0:
        return 1.0
    if net <= 0.0:
        return 0.0
    if p99 is None or p99 <= net:
        return 0.0 if net <= budget else 1.0
    sigma = math.log(p99 / net) / _Z99
    z = math.log(budget / net) / sigma
    return 0.5 * math.erfc(z / _SQRT2)


class EdgeAwarePolicy(RoutingPolicy):
    """Latency/energy/carbon-aware ranking under a chance-constrained deadline (see module docstring)."""

    name = "edge-aware"

    def __init__(
        self,
        epsilon: float = 0.05,
        default_objective: str = "latency",
        balanced_weight: float = 0.5,
        energy_budget_w: dict[str, float] | None = None,
        lyapunov_v: float = 100.0,
        correction: bool = True,
        correction_alpha: float = 0.05,
        correction_fade_s: float | None = 10.0,
        strict_min_p_meet: float = 0.5,
        clock: Clock | None = None,
    ) -> None:
        if not 0.0 < epsilon < 0.5:
            raise ValueError("epsilon must be in (0, 0.5)")
        if default_objective not in OBJECTIVES:
            raise ValueError(f"unknown objective {default_objective!r} (allowed: {', '.join(OBJECTIVES)})")
        if not 0.0 <= balanced_weight <= 1.0:
            raise ValueError("balanced_weight must be in [0, 1]")
        if not 0.0 < strict_min_p_meet <= 1.0:
            raise ValueError("strict_min_p_meet must be in (0, 1]")
        self.strict_max_p_miss = 1.0 - strict_min_p_meet if strict_min_p_meet < 1.0 else -1.0
        self.epsilon = epsilon
        self.default_objective = default_objective
        self.balanced_weight = balanced_weight
        self.budgets = EnergyBudgets(energy_budget_w, lyapunov_v)
        self.corrector = (
            LatencyCorrector(alpha=correction_alpha, tail_q=1.0 - epsilon, fade_s=correction_fade_s)
            if correction else None
        )
        self.clock = clock
        self._exp = NormalDist().inv_cdf(1.0 - epsilon) / _Z99
        self._exp_cache: dict[float, float] = {}

    def _spread(self, request: RouteRequest) -> tuple[float, float | None]:
        """(lognormal spread exponent, quantile level for the calibrated tail or None for the default)."""
        eps = request.epsilon
        if eps is None or eps == self.epsilon:
            return self._exp, None
        e = self._exp_cache.get(eps)
        if e is None:
            e = NormalDist().inv_cdf(1.0 - min(max(eps, 1e-9), 0.5)) / _Z99
            self._exp_cache[eps] = e
        return e, 1.0 - eps

    def _score(self, request: RouteRequest, views: list[TierView], explain: bool):
        """Core: feasible [(cost, lat, energy, tier)], best effort [(P(miss), lat, tier)], unavailable [tier],
        reasons, expected latencies, the latency each chance constraint tested (the last three when ``explain``)."""
        deadline = request.deadline_ms if request.deadline_ms is not None else _INF
        objective = request.objective if request.objective in OBJECTIVES else self.default_objective
        exp, level = self._spread(request)
        corr = self.corrector
        budgets = self.budgets
        site, model = request.site, request.model
        feasible: list[tuple[float, float, float, str]] = []
        fallback: list[tuple[float, float, str]] = []
        unavailable: list[str] = []
        reasons: dict[str, str] = {}
        expected: dict[str, float] = {}
        quantile: dict[str, float] = {}
        for v in views:
            tier = v.tier
            if not v.available:
                unavailable.append(tier)
                if explain:
                    reasons[tier] = v.reason or "unavailable"
                continue
            ratio, uq = corr.factors(site, tier, model, level) if corr is not None else (1.0, None)
            net = v.uplink_ms + v.downlink_ms
            rest = v.queue_ms + v.compute_ms + v.platform_ms
            lat = (net + rest) * ratio
            p99 = v.network_p99_ms
            if uq is not None:  # the tail calibrated on completions
                lat_q = net + rest + uq * (net if net > 0.0 else net + rest)
            elif p99 is not None and net > 0.0 and p99 > net:  # the tier model's lognormal network tail
                lat_q = (net * (p99 / net) ** exp + rest) * ratio
            else:
                lat_q = (net + rest) * ratio
            if explain:
                expected[tier] = lat
                quantile[tier] = lat_q
            if lat_q > deadline:
                fallback.append((_miss_probability(net, p99, rest, ratio, deadline), lat, tier))
                if explain:
                    reasons[tier] = f"P(latency <= {deadline:g} ms) too low: q={lat_q:.1f} ms"
                continue
            if lat_q > v.window_left_ms:
                fallback.append((1.0, lat, tier))
                if explain:
                    reasons[tier] = f"contact window ends in {v.window_left_ms:.0f} ms < {lat_q:.1f} ms"
                continue
            if v.battery_after_j < v.battery_reserve_j:
                fallback.append((1.0, lat, tier))
                if explain:
                    reasons[tier] = "battery would fall below its reserve"
                continue
            e = v.energy_j
            w = budgets.weight(tier) if budgets.budget_w else 0.0
            if objective == "latency":
                cost = lat + w * e
            elif objective == "energy":
                cost = e * (1.0 + w)
            elif objective == "carbon":
                cost = v.carbon_g + w * e
            else:
                cost = lat  # balanced: normalised below
            feasible.append((cost, lat, e, tier))
        if objective == "balanced" and feasible:
            e_min = min(f[2] for f in feasible) or 1e-12
            d_ref = deadline if deadline < _INF else (min(f[1] for f in feasible) or 1e-12)
            wl = self.balanced_weight
            feasible = [
                (wl * lat / d_ref + (1.0 - wl) * e * (1.0 + budgets.weight(t)) / e_min, lat, e, t)
                for (_, lat, e, t) in feasible
            ]
        return feasible, fallback, unavailable, reasons, expected, quantile

    def choose(self, request: RouteRequest, views: list[TierView]) -> list[str]:
        if request.pinned_tier is not None:
            return [v.tier for v in views if v.tier == request.pinned_tier]
        feasible, fallback, unavailable, _, _, _ = self._score(request, views, False)
        if len(feasible) > 1:
            feasible.sort()
        if len(fallback) > 1:
            fallback.sort()
        out = [f[3] for f in feasible]
        out += [f[2] for f in fallback]
        out += unavailable
        return out

    def choose_checked(self, request: RouteRequest, views: list[TierView]) -> tuple[list[str], bool]:
        if request.pinned_tier is not None:
            return super().choose_checked(request, views)
        feasible, fallback, unavailable, _, _, _ = self._score(request, views, False)
        feasible.sort()
        fallback.sort()
        return [f[3] for f in feasible] + [f[2] for f in fallback] + unavailable, self._admits(feasible, fallback)

    def _admits(self, feasible: list, fallback: list) -> bool:
        """A strict request is served when a tier passes the chance constraint, or when the most likely of the
        rest meets the deadline with probability >= ``strict_min_p_meet``."""
        return bool(feasible) or (bool(fallback) and fallback[0][0] <= self.strict_max_p_miss < 1.0)

    def decide(self, request: RouteRequest, views: list[TierView]) -> Decision:
        if request.pinned_tier is not None:
            return super().decide(request, views)
        feasible, fallback, unavailable, reasons, expected, quantile = self._score(request, views, True)
        feasible.sort()
        fallback.sort()
        ranking = [f[3] for f in feasible] + [f[2] for f in fallback] + unavailable
        return Decision(ranking, self._admits(feasible, fallback), reasons, expected, quantile)

    def observe(self, observation: Observation) -> None:
        req = observation.request
        if self.corrector is not None:
            self.corrector.update(req.site, observation.tier, req.model, observation.estimated_ms,
                                  observation.observed_ms, observation.network_ms, observation.at_s)
        if self.budgets.budget_w and observation.energy_j:
            at_s = observation.at_s
            if at_s is None:
                at_s = self.clock.now_s() if self.clock is not None else 0.0
            self.budgets.record(observation.tier, observation.energy_j, at_s)
