"""The virtual-time engine: one policy over one trace, as a discrete-event loop.

Per request (arrival event): ``maas.placement.Placer.place`` (the gateway's placement core: the one estimate
cache, biased if the scenario says so, faults applied, live queues -> views -> the policy ranks once) -> dispatch to
the first available ranked tier. Each tier location has replicas with ``slots`` FIFO servers
(in dispatch order); a request's latency is platform + true uplink + wait + true compute + true downlink (plus,
in a sim-to-real run, the client-side ingress the router never sees: ``EngineInput.client_ms``).
Completion is an event on a heap: it frees the in-flight count and feeds ``policy.observe``; every completion due
at or before an arrival fires before that arrival is routed. A request fails when its tier has an outage during
its service or its contact window closes before it completes (``maas.placement.Fault.blocks``, the same test the
offline oracle applies).

With live queues, a (model, tier) in ``EngineInput.batching`` is a batching worker (``maas.sim.batch_run``): its
requests queue at a virtual-time copy of the worker's batcher and finish when their batch has run; batches due by
an arrival start before that arrival's completions fire and before it is routed. Without batching the loop is
unchanged (bit-identical results). With live queues, a tier with ``autoscaling`` scales each (model, tier)'s
active slots as the live worker does (``maas.sim.autoscale_run``; not its batching workers, and not the per-site
tier locations without live queues, where all slots stay active); without it the loop is unchanged too.

Only two kinds of event exist (arrivals, already sorted, and completions), so the loop is a sorted walk over the
trace merged with one ``heapq`` of completions: SimPy's general machinery (a generator resumed and two event
objects per request) cost a quarter of the run time here. SimPy remains the tool for the tier models' queueing
validation (``maas.tiers.queueing``).
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from maas.clock import VirtualClock
from maas.placement import BatchModel, BatchQueue, Fault, NoPlacement, Placer, TierModels
from maas.routing.policy import RouteRequest, RoutingPolicy
from maas.routing.views import TierQueue
from maas.sim.autoscale_run import SlotScaling, tier_autoscaling
from maas.sim.batch_run import BatchedRequest, BatchedTiers
from maas.sim.gc_pause import cyclic_gc_paused
from maas.sim.workload import Trace
from maas.tiers.spec import AutoscalingSpec

__all__ = ["EngineInput", "Fault", "RunRecord", "VirtualClock", "cyclic_gc_paused", "run_policy", "prefetch_sites"]


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
    world_factory: Callable[[VirtualClock], TierModels]
    epoch_s: float = 0.0
    platform_ms: float = 1.0
    bias: float = 0.0
    replicas: dict[str, int] = field(default_factory=dict)
    faults: list[Fault] = field(default_factory=list)
    seed: int = 0
    tenant_epsilon: list[float | None] | None = None
    tier_host_ms: list[dict[str, float]] | None = None  # per model: the host time of the variant a tier serves
    estimate_refresh_s: float = 0.0  # the reuse rule of the estimate cache (0: ask the tier models every request)
    # per tenant: joules a UTC day may use (None: no budget), as the gateway's limits enforce it: from
    # ``energy_shift_pressure`` of it used the tenant's requests minimise energy; at 100% they are refused
    tenant_energy_budget_j: list[float | None] | None = None
    energy_shift_pressure: float = 0.8
    shed_factor: float | None = None  # admission as the gateway does it (maas.placement.placer.shed_threshold)
    tenant_priority: list[int] | None = None  # per tenant, 0..9 (default 5)
    # (model, tier, at_s, host_ms): from scenario second at_s (a new version's uplink completes) requests arriving
    # for that model run on that tier at host_ms (maas.sim.updates); one switch per model
    host_switches: list[tuple[int, str, float, float]] = field(default_factory=list)
    # per request (sim-to-real, maas.simlive): the gateway's true overhead in ms (None: ``platform_ms`` for every
    # request), and the overhead only the client sees (HTTP ingress and proxy; None: none). The router estimates
    # ``platform_ms`` and observes the first; it never sees the second, as the live gateway cannot see its ingress.
    overhead_ms: np.ndarray | None = None
    client_ms: np.ndarray | None = None
    explain: bool = False  # keep each request's decision (``Placer.explain``) in ``RunRecord.decisions``
    # the live platform's queues (sim-to-real): slots per (model, tier) shared by every site, as one tier worker per
    # deployment has them, and the router sees requests in flight, not each replica's backlog (False: the world's
    # slots per tier location, shared by the models, with the backlog each replica reports)
    live_queues: bool = False
    # (model index, tier) -> its worker's batching (live queues only): requests are batched as the worker does
    batching: dict[tuple[int, str], BatchModel] = field(default_factory=dict)
    # tier -> its slots' autoscaling (live queues only; None: the world's topology's tier specs, {}: none)
    autoscaling: dict[str, AutoscalingSpec] | None = None

    def host_ms_on(self, model: int, tier: str) -> float:
        """Host compute time of ``model`` on ``tier``: ``tier_host_ms`` when it names the tier, else ``host_ms``."""
        if self.tier_host_ms is not None:
            host = self.tier_host_ms[model].get(tier)
            if host is not None:
                return host
        return self.host_ms[model]

    def host_tables(self) -> tuple[list[tuple[float, ...]], list[float], list[tuple[float, ...]]]:
        """Per model: host times per tier before its switch, the switch time (inf: none), host times after."""
        tiers = tuple(self.tiers)
        before = [tuple(self.host_ms_on(m, t) for t in tiers) for m in range(len(self.models))]
        at, after = [float("inf")] * len(before), list(before)
        for m, tier, at_s, host in self.host_switches:
            if tier in tiers:
                row = list(after[m])
                row[tiers.index(tier)] = host
                after[m], at[m] = tuple(row), at_s
        return before, at, after


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
    refused: np.ndarray | None = None  # refused for a tenant's exhausted energy budget (a 429 live)
    tenant_energy_j: list[float] | None = None  # energy each tenant used over the run
    battery_soc: np.ndarray | None = None  # a battery tier's state of charge after the request (NaN elsewhere)
    decisions: list[dict | None] | None = None  # per request when ``EngineInput.explain``: ``Placer.explain``
    batch_sizes: list[int] | None = None  # with batching: every batch's size, in start order
    # with autoscaling: (model, tier) -> (virtual s, active slots) at the start and at every change
    active_slots: dict[tuple[str, str], list[tuple[float, int]]] | None = None


class _Loc:
    """One tier location: replicas, each a heap of slot-free times (ms), plus the live ``TierQueue``."""

    __slots__ = ("heaps", "queue", "batchers", "scaler")

    def __init__(self, replicas: int, slots: int, backlog: bool = True, batch: BatchModel | None = None,
                 batched: BatchedTiers | None = None) -> None:
        self.heaps = [[0.0] * slots for _ in range(replicas)]
        self.batchers = self.scaler = None  # scaler: its AutoscaledWorker (maas.sim.autoscale_run)
        if batch is None or batched is None:
            self.queue = TierQueue(in_flight=[0] * replicas, slots=slots,
                                   backlog_ms=[0.0] * replicas if backlog else None)
        else:  # a batching worker per replica; the router sees requests in flight and the batch wait
            self.queue = BatchQueue(in_flight=[0] * replicas, slots=slots, batch=batch)
            self.batchers = [batched.new(batch, slots) for _ in range(replicas)]


def prefetch_sites(world: TierModels, inp: EngineInput) -> None:
    """Let the world precompute what it needs for the sites of the trace (contact windows), if it can."""
    prefetch = getattr(world, "prefetch", None)
    if prefetch is not None and len(inp.trace) and any(world.kind(t) == "satellite" for t in inp.tiers):
        used = sorted({inp.sites[i] for i in set(inp.trace.site.tolist())})
        prefetch(used, inp.epoch_s, inp.epoch_s + float(inp.trace.t_s[-1]) + 60.0)


def run_policy(inp: EngineInput, policy: RoutingPolicy) -> RunRecord:
    """Simulate ``policy`` on ``inp.trace``; returns per-request outcomes (with the cyclic GC paused)."""
    with cyclic_gc_paused():
        return _simulate(inp, policy)


def _simulate(inp: EngineInput, policy: RoutingPolicy) -> RunRecord:
    clock = VirtualClock(inp.epoch_s)
    world = inp.world_factory(clock)
    prefetch_sites(world, inp)
    tr = inp.trace  # trace columns as Python lists: setup, like the contact windows, outside the timed loop
    t_arr, s_arr, ten_arr, m_arr = tr.t_s.tolist(), tr.site.tolist(), tr.tenant.tolist(), tr.model.tolist()
    link = inp.link_ms.tolist()
    cmult = inp.compute_mult.tolist()
    overhead = None if inp.overhead_ms is None else inp.overhead_ms.tolist()
    client = None if inp.client_ms is None else inp.client_ms.tolist()
    w0 = time.perf_counter()
    tiers = tuple(inp.tiers)
    capacity = {t: world.battery_capacity_j(t) for t in tiers}
    battery_tiers = {t for t in tiers if capacity[t]}
    n = len(inp.trace)
    tier_out = np.full(n, -1, dtype=np.int64)
    lat_out = np.full(n, np.nan)
    met_out = np.zeros(n, dtype=bool)
    failed_out = np.zeros(n, dtype=bool)
    energy_out = np.zeros(n)
    carbon_out = np.zeros(n)
    soc_out = np.full(n, np.nan)
    dec_out = np.zeros(n, dtype=np.int64)
    decisions: list[dict | None] | None = [None] * n if inp.explain else None
    min_soc: float | None = None
    locs: dict[tuple[str, str | int], _Loc] = {}
    site_queues: dict[str | int, dict[str, TierQueue]] = {}  # by site (by model with ``live_queues``)
    site_locs: dict[str | int, list[_Loc]] = {}
    faults = inp.faults
    outages = [f for f in faults if f.kind == "outage"]
    degradations = [f for f in faults if f.kind == "link_degradation"]
    placer = Placer(world, policy, refresh_s=inp.estimate_refresh_s, bias=inp.bias, faults=faults,
                    fault_epoch_s=inp.epoch_s, seed=inp.seed, explain_refusals=False, exact_host=True,
                    shed_factor=inp.shed_factor)
    place = placer.place
    platform_ms, epoch = inp.platform_ms, inp.epoch_s
    host_by_model, switch_at, host_after = inp.host_tables()
    eps = inp.tenant_epsilon or [None] * len(inp.tenant_names)
    prio = inp.tenant_priority or [5] * len(inp.tenant_names)
    requests = [
        [RouteRequest(model=m, site="", objective=inp.tenant_objective[j], deadline_ms=inp.tenant_deadline_ms[j],
                      strict=inp.tenant_strict[j], priority=prio[j], tenant=inp.tenant_names[j], epsilon=eps[j])
         for m in inp.models]
        for j in range(len(inp.tenant_names))
    ]
    observe = placer.observe
    budgets = inp.tenant_energy_budget_j if inp.tenant_energy_budget_j and any(
        b is not None for b in inp.tenant_energy_budget_j) else None
    refused_out = np.zeros(n, dtype=bool)
    tenant_energy = [0.0] * len(inp.tenant_names)
    spent_today = [0.0] * len(inp.tenant_names)
    budget_day = [-1] * len(inp.tenant_names)
    saving = [[RouteRequest(model=r.model, site="", objective="energy", deadline_ms=r.deadline_ms, strict=r.strict,
                            priority=r.priority, tenant=r.tenant, epsilon=r.epsilon) for r in row] for row in requests]

    def budgeted(j: int, mi: int, now_s: float) -> RouteRequest | None:
        """The tenant's request under its energy budget: as asked, energy-minimising, or None (refused)."""
        day = int((epoch + now_s) // 86400.0)
        if day != budget_day[j]:
            budget_day[j], spent_today[j] = day, 0.0
        used = spent_today[j] / budgets[j]
        if used >= 1.0:
            return None
        return saving[j][mi] if used >= inp.energy_shift_pressure else requests[j][mi]
    record_request = world.record_request
    # completions: (finish_s, sequence, placement, loc, replica, observed_ms, energy, ok)
    pending: list[tuple] = []
    heappush, heappop = heapq.heappush, heapq.heappop

    live_queues = inp.live_queues
    if inp.batching and not live_queues:
        raise ValueError("batching is modelled per (model, tier) worker: it needs live_queues")
    batched = BatchedTiers(epoch_s=epoch, tier_out=tier_out, lat_out=lat_out, met_out=met_out, failed_out=failed_out,
                           energy_out=energy_out, carbon_out=carbon_out, soc_out=soc_out, tenant_energy=tenant_energy,
                           spent_today=spent_today if budgets is not None else None,
                           client=None if inp.client_ms is None else client, pending=pending,
                           record_request=world.record_request, outages=outages,
                           capacity=capacity) if inp.batching else None
    placer.batching = batched is not None

    def loc_at(t: str, key: tuple[str, str | int], mi: int) -> _Loc:
        loc = locs.get(key)
        if loc is None:
            loc = locs[key] = _Loc(inp.replicas.get(t, 1), world.slots(t), not live_queues, inp.batching.get((mi, t)),
                                   batched)
        return loc

    def queues_for(site: str, mi: int) -> tuple[dict[str, TierQueue], list[_Loc]]:
        qkey = mi if live_queues else site
        qs = site_queues.get(qkey)
        if qs is None:
            lmap = {}
            for t in tiers:
                lmap[t] = loc_at(t, (t, mi) if live_queues else (t, world.location(site, t)), mi)
            qs = site_queues[qkey] = {t: lmap[t].queue for t in tiers}
            site_locs[qkey] = [lmap[t] for t in tiers]
        return qs, site_locs[qkey]

    def complete(item: tuple) -> None:
        clock.t_s = item[0]
        placement, loc, replica, obs_ms, energy, ok = item[2:]
        loc.queue.in_flight[replica] -= 1
        if ok:
            observe(placement, obs_ms, energy, epoch + item[0])

    scaling = SlotScaling.build(tier_autoscaling(inp.autoscaling, world, tiers), len(inp.models), world,
                                lambda t, mi: loc_at(t, (t, mi), mi)) if live_queues else None
    next_scale_s = float("inf") if scaling is None else scaling.next_s
    for i in range(n):
        now = t_arr[i]
        if batched is not None:
            batched.advance(now * 1000.0)
        while pending and pending[0][0] <= now:
            complete(heappop(pending))
        if now >= next_scale_s:  # autoscaling: the control ticks (and slot starts) due by this arrival
            next_scale_s = scaling.advance(now)
        clock.t_s = now
        si = s_arr[i]
        site = inp.sites[si]
        mi = m_arr[i]
        tj = ten_arr[i]
        base = requests[tj][mi]
        if budgets is not None and budgets[tj] is not None:
            base = budgeted(tj, mi, now)
            if base is None:
                refused_out[i] = True
                continue
        req = RouteRequest(base.model, site, base.objective, base.deadline_ms, base.strict, base.priority,
                           inp.in_bytes[mi],
                           None, inp.out_bytes[mi], base.tenant, i, base.epsilon)
        qs, site_loc_list = queues_for(site, mi)
        now_ms = now * 1000.0
        if not live_queues:
            for loc in site_loc_list:  # what each replica reports: time until its first slot is free
                backlog = loc.queue.backlog_ms
                for r, heap in enumerate(loc.heaps):
                    b = heap[0] - now_ms
                    backlog[r] = b if b > 0.0 else 0.0
        if now < switch_at[mi]:
            placement = place(req, tiers, host_by_model[mi], qs, epoch + now, key=(si, mi), platform_ms=platform_ms)
        else:  # the new version arrived on its tier: other host times, another cache key
            placement = place(req, tiers, host_after[mi], qs, epoch + now, key=(si, mi, 1), platform_ms=platform_ms)
        dec_out[i] = placer.last_decision_ns
        if decisions is not None:
            decisions[i] = placer.explain(req)
        if placement.__class__ is NoPlacement:
            continue  # dropped: rejected (strict) or nothing available
        view = placement.view
        tier = placement.tier
        k = placement.index
        e = placement.estimate
        up, down = link[i][k]
        for f in degradations:
            if f.hits(tier, site, now):
                up *= f.factor
                down *= f.factor
        compute = e.compute_ms * cmult[i]
        loc = site_loc_list[k]
        arrive = now_ms + (platform_ms if overhead is None else overhead[i]) + up
        if loc.batchers is not None:  # finished when its batch starts (maas.sim.batch_run)
            tier_out[i] = k
            loc.queue.in_flight[view.replica] += 1
            loc.batchers[view.replica].add(arrive, i, BatchedRequest(
                i, placement, site, tj, now, down, compute, host_by_model[mi][k] if now < switch_at[mi] else
                host_after[mi][k], req.deadline_ms, loc, view.replica))
            continue
        heap = loc.heaps[view.replica]
        start = heap[0] if heap[0] > arrive else arrive
        finish = start + compute
        heapq.heapreplace(heap, finish)
        if loc.scaler is not None:
            loc.scaler.admit(arrive, finish)
        latency = finish + down - now_ms  # what the gateway measures and its router observes
        seen = latency if client is None else latency + client[i]  # what the client measures
        ok = True
        wend = e.window_end_s
        if wend is not None and epoch + (finish + down) / 1000.0 > wend:
            ok = False
        for f in outages:
            if f.blocks(tier, site, now, start / 1000.0, finish / 1000.0):
                ok = False
                break
        record_request(site, tier, start_s=epoch + start / 1000.0, compute_ms=compute, energy_j=e.energy_j)
        if tier in battery_tiers and e.battery_after_j is not None:
            soc = e.battery_after_j / capacity[tier]
            soc_out[i] = soc
            if min_soc is None or soc < min_soc:
                min_soc = soc
        tier_out[i] = k
        energy_out[i] = e.energy_j
        tenant_energy[tj] += e.energy_j
        if budgets is not None:
            spent_today[tj] += e.energy_j
        carbon_out[i] = e.carbon_g
        if ok:
            lat_out[i] = seen
            d = req.deadline_ms
            met_out[i] = d is None or seen <= d
        else:
            failed_out[i] = True
        loc.queue.in_flight[view.replica] += 1
        heappush(pending, (now + latency / 1000.0, i, placement, loc, view.replica, latency, e.energy_j, ok))
    if batched is not None:
        batched.advance(float("inf"))
        if batched.min_soc is not None and (min_soc is None or batched.min_soc < min_soc):
            min_soc = batched.min_soc
    end_s = t_arr[-1] if n else 0.0
    while pending:
        end_s = pending[0][0]
        complete(heappop(pending))
    if scaling is not None:
        scaling.advance(end_s)
    wall = time.perf_counter() - w0
    return RunRecord(tier_out, lat_out, met_out, failed_out, energy_out, carbon_out, dec_out,
                     None if min_soc is None else float(min_soc), wall, refused_out, tenant_energy, soc_out,
                     decisions, None if batched is None else batched.batch_sizes,
                     None if scaling is None else scaling.timelines(inp.models))
