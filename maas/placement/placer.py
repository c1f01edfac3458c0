"""``Placer``: the one place a request is placed, for both clocks.

Lifecycle (the gateway on the wall clock through ``LivePlacer``; the simulator's engine on its virtual clock):
1. Build once with the tier models, a policy, the reuse rule's ``refresh_s``, the faults in force and a seed.
2. Per request: ``place(request, tiers, host_ms, queues, now_s, ...)`` asks the one estimate cache for every
   tier, applies the faults, builds the views with the live queues (``views_from_estimates``), lets the policy
   rank them (once; a queue that is a batching worker's ``BatchQueue`` is estimated with its batch wait when
   ``batching`` is set, ``maas.placement.batching``), and answers with one thing: a ``Placement`` on the first available ranked tier, or a
   ``NoPlacement`` with the reason. Admission (``shed_factor``): a request with a deadline that no available
   tier is expected to meet, queues included, is refused at once rather than served late (goodput, not
   throughput); lower priorities are shed earlier (``shed_threshold``).
3. After the request ran: ``account(placement, host_ms, compute_ms, start_s)`` books its energy to the tier
   models and returns (energy J, carbon g); ``observe(placement, observed_ms, energy_j, at_s)`` lets the policy
   learn from the completion.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from maas.placement.batching import BatchQueue
from maas.placement.estimates import EstimateCache, EstimateSet, _Line, outage_estimate
from maas.placement.faults import Fault
from maas.placement.tier_models import TierModels
from maas.routing.policy import Observation, RouteRequest, RoutingPolicy, TierView
from maas.routing.views import TierQueue, views_from_estimates
from maas.tiers.world import TierEstimate

__all__ = ["Placer", "Placement", "NoPlacement", "shed_threshold"]


@dataclass(slots=True)
class Placement:
    """The tier chosen for one request: its view (what the router saw), its true estimate, and when."""

    request: RouteRequest
    tier: str
    index: int
    view: TierView
    estimate: TierEstimate
    line: _Line
    t_s: float


@dataclass(slots=True)
class NoPlacement:
    """No tier takes the request: ``strict`` when a strict deadline is unmeetable, ``shed`` when no tier is
    expected to meet its deadline given the queues now (``retry_after_s``: when the shortest queue drains), else
    nothing is available."""

    reason: str
    strict: bool
    shed: bool = False
    retry_after_s: float | None = None


def shed_threshold(shed_factor: float, priority: int) -> float:
    """The fraction of its deadline the best expected latency may reach before a request is shed: the factor for
    priorities 5 (normal) to 9, 5% less per class below 5 (background, 0: 75% of the factor)."""
    return shed_factor * (1.0 - 0.05 * max(0, 5 - priority))


def _batch_waits(views: list[TierView], queues: Mapping[str, TierQueue]) -> None:
    """The queue estimate of every view whose worker batches: forming, slot and batch-run waits
    (``maas.placement.batching.BatchModel.wait_ms``) instead of the in-flight formula."""
    for v in views:
        q = queues.get(v.tier)
        if q.__class__ is BatchQueue and q.batch is not None and q.backlog_ms is None:
            v.queue_ms = q.batch.wait_ms(v.in_flight, v.slots, v.compute_ms if q.service_ms is None else q.service_ms)


class Placer:
    """Places requests on tiers with one estimate cache, one fault model and one policy."""

    def __init__(self, models: TierModels, policy: RoutingPolicy, *, refresh_s: float, bias: float = 0.0,
                 network_scale: float = 1.0, compute_scale: float = 1.0, faults: Sequence[Fault] = (),
                 fault_epoch_s: float = 0.0, seed: int = 0, explain_refusals: bool = True,
                 exact_host: bool = False, shed_factor: float | None = None) -> None:
        self.models = models
        self.policy = policy
        self.cache = EstimateCache(models, refresh_s=refresh_s, bias=bias, network_scale=network_scale,
                                   compute_scale=compute_scale, exact_host=exact_host)
        self.faults: list[Fault] = list(faults)
        self.fault_epoch_s = fault_epoch_s
        self.kinds = {t: models.kind(t) for t in models.tier_names}
        self.rng = random.Random(seed)
        self.explain_refusals = explain_refusals
        self.shed_factor = shed_factor
        self.last_decision_ns = 0
        self.last_views: list[TierView] = []  # what the policy ranked for the last request (``explain``)
        self._outages = [f for f in self.faults if f.kind == "outage"]
        self.batching = False  # some queue may be a ``BatchQueue``: its views get the batch wait (set by the owner)

    def set_faults(self, faults: Sequence[Fault]) -> None:
        """Replace the faults in force (the live gateway's rehearsed faults; the simulator's scenario faults)."""
        self.faults = list(faults)
        self._outages = [f for f in self.faults if f.kind == "outage"]

    def estimates(self, key: Hashable, site: str, tiers: Sequence[str], host_ms: Sequence[float], input_bytes: int,
                  output_bytes: int, now_s: float) -> tuple[EstimateSet, list, list]:
        """The estimate set plus (true, shown) lists with the outages in force at ``now_s`` applied."""
        es = self.cache.estimates(key, site, tiers, host_ms, input_bytes, output_bytes, now_s)
        true, shown = es.true, es.shown
        if self._outages:
            t = now_s - self.fault_epoch_s
            down = [any(f.hits(tier, site, t) for f in self._outages) for tier in tiers]
            if any(down):
                true = [(n, outage_estimate(e) if d else e) for (n, e), d in zip(true, down, strict=True)]
                shown = [(n, outage_estimate(e) if d else e) for (n, e), d in zip(shown, down, strict=True)]
        return es, true, shown

    def place(self, request: RouteRequest, tiers: Sequence[str], host_ms: Sequence[float],
              queues: Mapping[str, TierQueue], now_s: float, *, key: Hashable, platform_ms: float
              ) -> Placement | NoPlacement:
        """Rank ``tiers`` for ``request`` and pick the first available one (see the module's lifecycle)."""
        if self._outages:
            es, true, shown = self.estimates(key, request.site, tiers, host_ms, request.input_bytes,
                                             request.output_bytes, now_s)
        else:  # the common case, inline: one call less per request (the simulator's hot loop)
            es = self.cache.estimates(key, request.site, tiers, host_ms, request.input_bytes, request.output_bytes,
                                      now_s)
            true, shown = es.true, es.shown
        views = views_from_estimates(shown, queues, now_s=now_s, platform_ms=platform_ms, kinds=self.kinds,
                                     rng=self.rng)
        if self.batching:
            _batch_waits(views, queues)
        self.last_views = views
        policy = self.policy
        t0 = time.perf_counter_ns()
        strict = request.strict and request.deadline_ms is not None
        if strict:
            if self.explain_refusals:
                decision = policy.decide(request, views)
                ranking, feasible = decision.ranking, decision.feasible
            else:
                ranking, feasible = policy.choose_checked(request, views)
        else:
            ranking, feasible = policy.choose(request, views), True
        self.last_decision_ns = time.perf_counter_ns() - t0
        if strict and not feasible:
            why = ""
            if self.explain_refusals:
                why = " (" + "; ".join(f"{t}: {r}" for t, r in decision.reasons.items()) + ")"
            return NoPlacement(f"no tier meets the strict deadline of {request.deadline_ms:g} ms{why}", True)
        deadline = request.deadline_ms
        shedding = self.shed_factor is not None and deadline is not None and request.pinned_tier is None
        for name in ranking:
            for k, v in enumerate(views):
                if v.tier == name:
                    if v.available:
                        # shed when even the fastest available tier expects too long: the chosen one is at least
                        # as slow as the fastest, so when it is fast enough nothing else needs a look (most requests)
                        if shedding and v.latency_ms > deadline * shed_threshold(self.shed_factor, request.priority):
                            shed = self._shed(request, views, deadline)
                            if shed is not None:
                                return shed
                        return Placement(request, name, k, v, true[k][1], es.lines[k], now_s)
                    break
        if not self.explain_refusals:
            return NoPlacement("no tier available", False)
        reasons = "; ".join(f"{v.tier}: {v.reason or 'unavailable'}" for v in views if not v.available)
        return NoPlacement(f"no tier can take this request now ({reasons or 'no tier ranked'})", False)

    def explain(self, request: RouteRequest) -> dict[str, Any]:
        """Why the last ``place`` went where it did, per tier: what the router estimated (latency and its parts,
        the chance-constraint quantile, energy, carbon) and whether the tier was feasible (else why not), plus the
        ranking. Call it right after ``place`` for the same request, before anything completes (a decision is
        a moment: the next completion changes what the router knows). JSON-ready; rounded to 1 us / 1 uJ."""
        views = self.last_views
        decision = self.policy.decide(request, views)
        tiers = {}
        for v in views:
            row: dict[str, Any] = {"available": v.available}
            if v.available:
                row.update(expected_ms=round(decision.expected_ms.get(v.tier, v.latency_ms), 3),
                           uplink_ms=round(v.uplink_ms, 3), queue_ms=round(v.queue_ms, 3),
                           compute_ms=round(v.compute_ms, 3), downlink_ms=round(v.downlink_ms, 3),
                           platform_ms=round(v.platform_ms, 3), energy_j=round(v.energy_j, 6),
                           carbon_g=round(v.carbon_g, 6))
                q = decision.quantile_ms.get(v.tier)
                if q is not None:
                    row["quantile_ms"] = round(q, 3)
            row["feasible"] = v.available and v.tier not in decision.reasons
            if v.tier in decision.reasons:
                row["reason"] = decision.reasons[v.tier]
            tiers[v.tier] = row
        return {"ranking": list(decision.ranking), "tiers": tiers}

    def _shed(self, request: RouteRequest, views: list[TierView], deadline_ms: float) -> NoPlacement | None:
        """A refusal when even the fastest available tier is expected past the request's deadline (x threshold)."""
        best, best_ms = None, math.inf
        for v in views:  # the hot path of every request with a deadline: one latency_ms per view
            if v.available:
                ms = v.latency_ms
                if ms < best_ms:
                    best, best_ms = v, ms
        if best is None:
            return None  # nothing available: the caller's "no tier can take this request" says why
        if best_ms <= deadline_ms * shed_threshold(self.shed_factor, request.priority):
            return None
        retry_s = min(v.queue_ms for v in views if v.available) / 1000.0
        why = ""
        if self.explain_refusals:
            why = (f": the fastest tier ({best.tier}) expects {best.latency_ms:.1f} ms (queue {best.queue_ms:.1f} ms)"
                   f" against the deadline of {deadline_ms:g} ms")
        return NoPlacement(f"overloaded{why}", False, True, max(1.0, retry_s))

    def account(self, placement: Placement, host_ms: float, compute_ms: float, start_s: float) -> tuple[float, float]:
        """Energy (J) and carbon (g) of a request that ran ``host_ms`` on the host (``compute_ms`` emulated device
        time), booked to the tier models (device ledger, satellite battery) as starting at ``start_s``."""
        energy_j, carbon_g = placement.line.energy_carbon(host_ms)
        self.models.record_request(placement.request.site, placement.tier, start_s=start_s, compute_ms=compute_ms,
                                   energy_j=energy_j)
        return energy_j, carbon_g

    def observe(self, placement: Placement, observed_ms: float, energy_j: float, at_s: float) -> None:
        """Feed a completed request back to the policy (online correction, energy budgets)."""
        view = placement.view
        self.policy.observe(Observation(placement.request, placement.tier, view.latency_ms, observed_ms, energy_j,
                                        at_s, view.uplink_ms + view.downlink_ms))
