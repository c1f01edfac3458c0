"""Exact timelines of the virtual-time engine on tiny deterministic scenarios."""

from __future__ import annotations

import numpy as np
import pytest

from maas.routing import Observation, RouteRequest, RoutingPolicy, TierView
from maas.sim.engine import EngineInput, Fault, run_policy
from maas.sim.workload import Trace
from maas.sim.world import TableTier, TableWorld


class Spy(RoutingPolicy):
    """Always the first tier; records what it saw and what it was told."""

    name = "spy"

    def __init__(self) -> None:
        self.seen: list[tuple[int, float, int, float]] = []
        self.observed: list[tuple[float, float, float]] = []

    def choose(self, request: RouteRequest, views: list[TierView]) -> list[str]:
        v = views[0]
        self.seen.append((request.request_id, v.queue_ms, v.in_flight, v.window_left_ms))
        return [v.tier for v in views]

    def observe(self, observation: Observation) -> None:
        self.observed.append((observation.at_s, observation.observed_ms, observation.estimated_ms))


def engine_input(t_s: list[float], tiers: list[TableTier], deadline: float = 20.0, faults=(),
                 replicas=None) -> EngineInput:
    n = len(t_s)
    world_tiers = tiers
    link = np.zeros((n, len(tiers), 2))
    for k, t in enumerate(tiers):
        link[:, k, 0], link[:, k, 1] = t.uplink_ms, t.downlink_ms
    return EngineInput(
        tiers=[t.name for t in tiers], sites=["s"], models=["m"], host_ms=[10.0], in_bytes=[0], out_bytes=[0],
        tenant_deadline_ms=[deadline], tenant_objective=["latency"], tenant_strict=[False], tenant_names=["t"],
        trace=Trace(np.array(t_s), np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64),
                    np.zeros(n, dtype=np.int64)),
        link_ms=link, compute_mult=np.ones(n), world_factory=lambda clock: TableWorld(world_tiers),
        epoch_s=1000.0, platform_ms=1.0, faults=list(faults), replicas=replicas or {},
    )


EDGE = TableTier("edge", "base-station", uplink_ms=2.0, downlink_ms=3.0, slowdown=1.0, power_w=10.0, slots=1)


def test_fifo_single_slot_timeline() -> None:
    spy = Spy()
    rec = run_policy(engine_input([0.0, 0.001, 0.030], [EDGE]), spy)
    # r0: arrives 0+1+2=3 ms, runs 3..13, back at 16. r1: arrives 4, waits to 13, runs 13..23, back 26 (25 ms).
    # r2: at 30 ms, arrives 33, runs 33..43, back 46 (16 ms).
    assert rec.latency_ms.tolist() == pytest.approx([16.0, 25.0, 16.0])
    assert rec.met.tolist() == [True, False, True]
    assert rec.energy_j.tolist() == pytest.approx([0.1, 0.1, 0.1])
    assert rec.tier.tolist() == [0, 0, 0]
    # what the router saw: r1 one request in flight and a slot busy until 13 ms: it will arrive at 4 ms, so it
    # waits 9 ms (the replica's backlog minus uplink and platform); r2 an idle tier again
    assert [(i, q, f) for i, q, f, _ in spy.seen] == [(0, 0.0, 0), (1, 9.0, 1), (2, 0.0, 0)]
    # completions in time order, with the estimate the router had (1 + 2 + queue + 10 + 3)
    assert spy.observed == [
        (pytest.approx(1000.016), pytest.approx(16.0), pytest.approx(16.0)),
        (pytest.approx(1000.026), pytest.approx(25.0), pytest.approx(25.0)),
        (pytest.approx(1000.046), pytest.approx(16.0), pytest.approx(16.0)),
    ]


def test_two_slots_run_in_parallel_and_replicas_split_load() -> None:
    two = TableTier("edge", "base-station", uplink_ms=2.0, downlink_ms=3.0, power_w=10.0, slots=2)
    rec = run_policy(engine_input([0.0, 0.001, 0.002], [two]), Spy())
    # r0 3..13, r1 4..14, r2 waits for the first free slot at 13: runs 13..23, back 26 -> 24 ms
    assert rec.latency_ms.tolist() == pytest.approx([16.0, 16.0, 24.0])


def test_outage_drops_and_fails_requests() -> None:
    fault = Fault("outage", "edge", start_s=0.010, end_s=0.050)
    rec = run_policy(engine_input([0.0, 0.020, 0.060], [EDGE], faults=[fault]), Spy())
    # r0 runs 3..13 ms and overlaps the outage from 10 ms: lost. r1 arrives in the outage: dropped.
    assert rec.failed.tolist() == [True, False, False]
    assert rec.tier.tolist() == [0, -1, 0]
    assert rec.met.tolist() == [False, False, True]


def test_contact_window_closing_fails_the_request() -> None:
    sat = TableTier("sat", "satellite", uplink_ms=2.0, downlink_ms=3.0, power_w=10.0, slots=1,
                    up_period_s=1.0, up_s=0.010, battery_j=100.0, reserve_j=0.0)
    spy = Spy()
    rec = run_policy(engine_input([1000.0 - 1000.0, 0.005], [sat], deadline=100.0), spy)
    # window [0, 10 ms): r0 done at 16 ms > 10 ms: fails; r1 at 5 ms sees 5 ms of window left
    assert rec.failed.tolist() == [True, True]
    assert spy.seen[1][3] == pytest.approx(5.0)
    assert rec.min_battery_soc == pytest.approx(0.998)


def test_each_tier_computes_with_the_host_time_of_its_own_variant() -> None:
    class Pinned(Spy):
        def __init__(self, tier: str) -> None:
            super().__init__()
            self.tier = tier

        def choose(self, request, views):
            return [self.tier]

    edge = TableTier("edge", "base-station", uplink_ms=2.0, downlink_ms=3.0, power_w=10.0)
    dc = TableTier("dc", "ground", uplink_ms=2.0, downlink_ms=3.0, power_w=10.0)
    inp = engine_input([0.0], [edge, dc])
    inp.tier_host_ms = [{"edge": 4.0}]  # e.g. int8 on the edge; the data centre keeps the model's 10 ms
    assert run_policy(inp, Pinned("edge")).latency_ms.tolist() == pytest.approx([1 + 2 + 4 + 3])
    assert run_policy(inp, Pinned("dc")).latency_ms.tolist() == pytest.approx([1 + 2 + 10 + 3])


def test_live_queues_are_per_model_shared_by_sites_and_seen_in_flight() -> None:
    """``live_queues`` (sim-to-real): the live platform's slots are per (model, tier) deployment, shared by every
    site, and its router sees requests in flight, not backlogs. Same timeline as above for one model; a second
    model's request does not wait for the first model's slot; a second site's request of the same model does."""
    def run(models: list[int], sites: list[int], live: bool) -> tuple[list[float], list[float]]:
        inp = engine_input([0.0, 0.001], [EDGE])
        inp.models, inp.host_ms, inp.in_bytes, inp.out_bytes = ["m", "n"], [10.0, 10.0], [0, 0], [0, 0]
        inp.sites = ["s", "z"]
        inp.trace = Trace(inp.trace.t_s, np.array(sites), inp.trace.tenant, np.array(models))
        inp.live_queues = live
        spy = Spy()
        return run_policy(inp, spy).latency_ms.tolist(), [q for _, q, _, _ in spy.seen]

    # the world's queues: both models share the tier's one slot (r1 waits 9 ms, seen from the backlog)
    assert run([0, 1], [0, 0], False) == (pytest.approx([16.0, 25.0]), [0.0, 9.0])
    # live queues: another model has its own slot; the same model from another site shares it, and the wait seen
    # is the in-flight formula (one request ahead on one slot: one service time, 10 ms)
    assert run([0, 1], [0, 0], True) == (pytest.approx([16.0, 16.0]), [0.0, 0.0])
    assert run([0, 0], [0, 1], True) == (pytest.approx([16.0, 25.0]), [0.0, 10.0])


class GcWatcher(Spy):
    """Records whether the cyclic GC was on while it ranked."""

    def __init__(self) -> None:
        super().__init__()
        self.gc_on: list[bool] = []

    def choose(self, request: RouteRequest, views: list[TierView]) -> list[str]:
        import gc

        self.gc_on.append(gc.isenabled())
        return super().choose(request, views)


def test_the_cyclic_gc_is_paused_during_a_run_and_restored_after() -> None:
    import gc

    from maas.sim.engine import cyclic_gc_paused

    watcher = GcWatcher()
    assert gc.isenabled()
    run_policy(engine_input([0.0, 0.001, 0.030], [EDGE]), watcher)
    assert watcher.gc_on == [False, False, False]
    assert gc.isenabled()
    with pytest.raises(RuntimeError), cyclic_gc_paused():
        raise RuntimeError("a failing run")
    assert gc.isenabled()  # restored on an exception too
    gc.disable()
    try:
        with cyclic_gc_paused():
            pass
        assert not gc.isenabled()  # a caller's own pause is left as it was
    finally:
        gc.enable()


def test_a_run_leaves_no_reference_cycles_behind() -> None:
    """With the collector paused, cycles made per request would pile up: a run of 400 requests must leave no more
    cyclic garbage than a run of 4 (the tier models' own, built once per run)."""
    import gc

    def garbage_after(n: int) -> int:
        gc.collect()
        run_policy(engine_input([0.01 * i for i in range(n)], [EDGE]), Spy())
        return gc.collect()

    assert garbage_after(400) <= garbage_after(4)
