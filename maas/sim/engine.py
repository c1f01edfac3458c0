"""The virtual-time engine: one policy over one trace on SimPy.

Per request (arrival event): estimates from the world for every tier (biased if the scenario says so, overridden
by faults), live queues -> ``views_from_estimates`` -> ``policy.choose`` (``decide`` for strict requests) ->
dispatch to the first available ranked tier. Each tier location has replicas with ``slots`` FIFO servers
(in dispatch order); a request's latency is platform + true uplink + wait + true compute + true downlink.
Completion is a SimPy event: it frees the in-flight count and feeds ``policy.observe``. A request fails when its
tier has an outage during its service or its contact window closes before it completes.
"""

from __future__ import annotations

import heapq
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import simpy

from maas.routing.policy import Observation, RouteRequest, RoutingPolicy
from maas.routing.views import TierQueue, views_from_estimates
from maas.sim.workload import Trace
from maas.sim.world import Estimate, SimWorld

__all__ = ["EngineInput", "Fault", "RunRecord", "EnvClock", "run_policy", "prefetch_sites"]


class EnvClock:
    """A ``Clock`` over a SimPy environment: ``now_s = epoch_s + env.now``."""

    def __init__(self, env: simpy.Environment, epoch_s: float) -> None:
        self.env = env
        self.epoch_s = epoch_s

    def now_s(self) -> float:
        return self.epoch_s + self.env.now

    async def sleep_s(self, seconds: float) -> None:  # pragma: no cover - the engine never sleeps
        raise RuntimeError("EnvClock is driven by the simulation, not slept on")


@dataclass(frozen=True)
class Fault:
    """A fault window in scenario seconds; ``sites`` None means every site."""

    kind: str  # outage | link_degradation
    tier: str
    start_s: float
    end_s: float
    sites: frozenset[str] | None = None
    factor: float = 1.0

    def hits(self, tier: str, site: str, t: float) -> bool:
        return tier == self.tier and self.start_s <= t < self.end_s and (self.sites is None or site in self.sites)


@dataclass
class EngineInput:
    """Everything one run needs; ``link_ms[i, k]`` are the true (uplink, downlink) of request i on tier k."""

    tiers: list[str]
    sites: list[str]
    models: list[str]
    host_ms: list[float]
    in_bytes: list[int]
    out_bytes: list[int]
    tenant_deadline_ms: list[float | None]
    tenant_objective: list[str]
    tenant_strict: list[bool]
    tenant_names: list[str]
    trace: Trace
    link_ms: np.ndarray
    compute_mult: np.ndarray
    world_factory: Callable[[EnvClock], SimWorld]
    epoch_s: float = 0.0
    platform_ms: float = 1.0
    bias: float = 0.0
    replicas: dict[str, int] = field(default_factory=dict)
    faults: list[Fault] = field(default_factory=list)
    seed: int = 0
    tenant_epsilon: list[float | None] | None = None


@dataclass
class RunRecord:
    """Per-request outcome of one run (tier -1: dropped before dispatch)."""

    tier: np.ndarray
    latency_ms: np.ndarray
    met: np.ndarray
    failed: np.ndarray
    energy_j: np.ndarray
    carbon_g: np.ndarray
    decision_ns: np.ndarray
    min_battery_soc: float | None
    wall_s: float


class _Loc:
    """One tier location: replicas, each a heap of slot-free times (ms), plus the live ``TierQueue``."""

    __slots__ = ("heaps", "queue")

    def __init__(self, replicas: int, slots: int) -> None:
        self.heaps = [[0.0] * slots for _ in range(replicas)]
        self.queue = TierQueue(in_flight=[0] * replicas, slots=slots, backlog_ms=[0.0] * replicas)


def _biased(e, b: float) -> Estimate:
    f = 1.0 + b
    p99 = e.network_p99_ms
    return Estimate(e.available, e.reason, e.uplink_ms * f, e.downlink_ms * f, e.compute_ms * f, e.energy_j,
                    e.carbon_g, None if p99 is None else p99 * f, e.window_end_s, e.battery_j,
                    e.battery_after_j, e.battery_reserve_j)


def prefetch_sites(world: SimWorld, inp: EngineInput) -> None:
    """Let the world precompute what it needs for the sites of the trace (contact windows), if it can."""
    prefetch = getattr(world, "prefetch", None)
    if prefetch is not None and len(inp.trace) and any(world.kind(t) == "satellite" for t in inp.tiers):
        used = sorted({inp.sites[i] for i in set(inp.trace.site.tolist())})
        prefetch(used, inp.epoch_s, inp.epoch_s + float(inp.trace.t_s[-1]) + 60.0)


def run_policy(inp: EngineInput, policy: RoutingPolicy) -> RunRecord:
    """Simulate ``policy`` on ``inp.trace``; returns per-request outcomes."""
    env = simpy.Environment()
    clock = EnvClock(env, inp.epoch_s)
    world = inp.world_factory(clock)
    prefetch_sites(world, inp)
    w0 = time.perf_counter()
    tiers = inp.tiers
    k_of = {t: k for k, t in enumerate(tiers)}
    kinds = {t: world.kind(t) for t in tiers}
    capacity = {t: world.battery_capacity_j(t) for t in tiers}
    battery_tiers = {t for t in tiers if capacity[t]}
    n = len(inp.trace)
    tier_out = np.full(n, -1, dtype=np.int64)
    lat_out = np.full(n, np.nan)
    met_out = np.zeros(n, dtype=bool)
    failed_out = np.zeros(n, dtype=bool)
    energy_out = np.zeros(n)
    carbon_out = np.zeros(n)
    dec_out = np.zeros(n, dtype=np.int64)
    min_soc: list[float | None] = [None]
    rng = random.Random(inp.seed)
    locs: dict[tuple[str, str], _Loc] = {}
    site_queues: dict[str, dict[str, TierQueue]] = {}
    site_locs: dict[str, dict[str, _Loc]] = {}
    faults = inp.faults
    outages = [f for f in faults if f.kind == "outage"]
    degradations = [f for f in faults if f.kind == "link_degradation"]
    bias, platform_ms, epoch = inp.bias, inp.platform_ms, inp.epoch_s
    tr = inp.trace
    t_arr, s_arr, ten_arr, m_arr = tr.t_s.tolist(), tr.site.tolist(), tr.tenant.tolist(), tr.model.tolist()
    link = inp.link_ms.tolist()
    cmult = inp.compute_mult.tolist()
    eps = inp.tenant_epsilon or [None] * len(inp.tenant_names)
    requests = [
        [RouteRequest(model=m, site="", objective=inp.tenant_objective[j], deadline_ms=inp.tenant_deadline_ms[j],
                      strict=inp.tenant_strict[j], tenant=inp.tenant_names[j], epsilon=eps[j]) for m in inp.models]
        for j in range(len(inp.tenant_names))
    ]
    perf = time.perf_counter_ns
    observe = policy.observe
    choose = policy.choose
    choose_checked = policy.choose_checked

    def queues_for(site: str) -> tuple[dict[str, TierQueue], dict[str, _Loc]]:
        qs = site_queues.get(site)
        if qs is None:
            lmap = {}
            for t in tiers:
                key = (t, world.location(site, t))
                loc = locs.get(key)
                if loc is None:
                    loc = locs[key] = _Loc(inp.replicas.get(t, 1), world.slots(t))
                lmap[t] = loc
            qs = site_queues[site] = {t: lmap[t].queue for t in tiers}
            site_locs[site] = lmap
        return qs, site_locs[site]

    def done(ev: simpy.Event) -> None:
        req, tier, loc, replica, est_ms, obs_ms, energy, ok, net_ms = ev.value
        loc.queue.in_flight[replica] -= 1
        if ok:
            observe(Observation(req, tier, est_ms, obs_ms, energy, epoch + env.now, net_ms))

    def handle(i: int) -> None:
        now = env.now
        t_s = epoch + now
        site = inp.sites[s_arr[i]]
        mi = m_arr[i]
        base = requests[ten_arr[i]][mi]
        req = RouteRequest(base.model, site, base.objective, base.deadline_ms, base.strict, 0, inp.in_bytes[mi],
                           None, inp.out_bytes[mi], base.tenant, i, base.epsilon)
        host = inp.host_ms[mi]
        true_est = {}
        shown = {}
        for t in tiers:
            e = world.estimate(site, t, host_compute_ms=host, input_bytes=inp.in_bytes[mi],
                               output_bytes=inp.out_bytes[mi], t_s=t_s)
            for f in outages:
                if f.hits(t, site, now):
                    e = Estimate(False, "fault: outage", e.uplink_ms, e.downlink_ms, e.compute_ms, e.energy_j,
                                 e.carbon_g, e.network_p99_ms)
                    break
            true_est[t] = e
            if bias:
                shown[t] = _biased(e, bias)
        qs, lmap = queues_for(site)
        now_ms = now * 1000.0
        for loc in lmap.values():  # what each replica reports: time until its first slot is free
            backlog = loc.queue.backlog_ms
            for r, heap in enumerate(loc.heaps):
                b = heap[0] - now_ms
                backlog[r] = b if b > 0.0 else 0.0
        views = views_from_estimates(shown if bias else true_est, qs, now_s=t_s, platform_ms=platform_ms, kinds=kinds, rng=rng)
        t0 = perf()
        if req.strict:
            ranking, feasible = choose_checked(req, views)
            if not feasible:
                ranking = []
        else:
            ranking = choose(req, views)
        dec_out[i] = perf() - t0
        view = None
        for name in ranking:
            for v in views:
                if v.tier == name:
                    if v.available:
                        view = v
                    break
            if view is not None:
                break
        if view is None:
            return  # dropped: rejected (strict) or nothing available
        tier = view.tier
        k = k_of[tier]
        e = true_est[tier]
        up, down = link[i][k]
        for f in degradations:
            if f.hits(tier, site, now):
                up *= f.factor
                down *= f.factor
        compute = e.compute_ms * cmult[i]
        loc = lmap[tier]
        heap = loc.heaps[view.replica]
        arrive = now * 1000.0 + platform_ms + up
        start = heap[0] if heap[0] > arrive else arrive
        finish = start + compute
        heapq.heapreplace(heap, finish)
        latency = finish + down - now * 1000.0
        ok = True
        wend = e.window_end_s
        if wend is not None and epoch + (finish + down) / 1000.0 > wend:
            ok = False
        for f in outages:
            if f.tier == tier and f.start_s * 1000.0 < finish and start < f.end_s * 1000.0 and (
                    f.sites is None or site in f.sites):
                ok = False
        world.record_request(site, tier, start_s=epoch + start / 1000.0, compute_ms=compute, energy_j=e.energy_j)
        if tier in battery_tiers and e.battery_after_j is not None:
            soc = e.battery_after_j / capacity[tier]
            if min_soc[0] is None or soc < min_soc[0]:
                min_soc[0] = soc
        tier_out[i] = k
        energy_out[i] = e.energy_j
        carbon_out[i] = e.carbon_g
        if ok:
            lat_out[i] = latency
            d = req.deadline_ms
            met_out[i] = d is None or latency <= d
        else:
            failed_out[i] = True
        loc.queue.in_flight[view.replica] += 1
        ev = env.timeout(latency / 1000.0, (req, tier, loc, view.replica, view.latency_ms, latency, e.energy_j, ok,
                                            view.uplink_ms + view.downlink_ms))
        ev.callbacks.append(done)

    def arrivals():
        timeout = env.timeout
        for i in range(n):
            dt = t_arr[i] - env.now
            if dt > 0:
                yield timeout(dt)
            handle(i)

    env.process(arrivals())
    env.run()
    wall = time.perf_counter() - w0
    soc = min_soc[0]
    return RunRecord(tier_out, lat_out, met_out, failed_out, energy_out, carbon_out, dec_out,
                     None if soc is None else float(soc), wall)


