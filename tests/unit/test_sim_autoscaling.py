"""Autoscaled slots in virtual time (maas.sim.autoscale_run): the worker's exact control steps (scale up after the
delay and the slot start, scale down removing the slots that free earliest, a start joined or cancelled), and the
engine with one autoscaled (model, tier) in live-queues mode. No sleeps: every time is virtual."""

from __future__ import annotations

import heapq
from types import SimpleNamespace

import numpy as np
import pytest

from maas.placement import BatchModel
from maas.routing.views import TierQueue
from maas.sim.autoscale_run import AutoscaledWorker, tier_autoscaling
from maas.sim.engine import run_policy
from maas.sim.world import TableTier
from maas.tiers import load_topology
from maas.tiers.spec import AutoscalingSpec
from tests.unit.test_sim_engine import Spy, engine_input

EDGE4 = TableTier("edge", "base-station", uplink_ms=2.0, downlink_ms=3.0, slowdown=1.0, power_w=10.0, slots=4)


def spec(**kw) -> AutoscalingSpec:
    base = dict(min_slots=1, target_ongoing_requests=1.0, upscale_delay_s=0.0, downscale_delay_s=0.0,
                look_back_period_s=0.05, metrics_interval_s=0.1, slot_start_s=0.05)
    return AutoscalingSpec(**(base | kw))


def worker(s: AutoscalingSpec, slots: int = 4) -> tuple[AutoscaledWorker, list[float], TierQueue]:
    heap, queue = [0.0] * slots, TierQueue(in_flight=[0], slots=slots)
    return AutoscaledWorker(s, slots, heap, queue), heap, queue


def place(w: AutoscaledWorker, arrive_ms: float, compute_ms: float) -> float:
    """What the engine does with a request on the worker's slots (FIFO, earliest-free slot); returns its start."""
    start = max(w.heap[0], arrive_ms)
    heapq.heapreplace(w.heap, start + compute_ms)
    w.admit(arrive_ms, start + compute_ms)
    return start


# -- the worker's control steps ------------------------------------------------------------------------------------
def test_the_worker_starts_at_min_slots_and_the_router_sees_them() -> None:
    w, heap, queue = worker(spec(min_slots=2))
    assert heap == [0.0, 0.0] and queue.slots == 2 and w.timeline == [(0.0, 2)]
    assert w.advance(0.05) == pytest.approx(0.1)  # nothing due before the first tick


def test_up_after_the_slot_start_then_down_removing_the_slots_that_free_earliest() -> None:
    """target 2 per slot, no delays, one sample in the look-back (only the tick's own)."""
    w, heap, queue = worker(spec(target_ongoing_requests=2.0))
    for _ in range(8):  # 8 reach the one slot at 10 ms, 50 ms each: 10..60, 60..110, ..., 360..410
        place(w, 10.0, 50.0)
    assert heap == [410.0]
    # tick 0.1: r0 done, 7 at the worker -> ceil(7 / 2) = 4 wanted, taken at once; 3 slots start until 0.15
    assert w.advance(0.1) == pytest.approx(0.15)
    assert sorted(heap) == [pytest.approx(150.0)] * 3 + [410.0]
    assert queue.slots == 1 and w.active == 1  # the router counts a slot once it serves
    w.advance(0.16)  # (0.1 + 0.05 is a hair above 0.15 in floating point)
    assert queue.slots == 4 and w.timeline == [(0.0, 1), (pytest.approx(0.15), 4)]
    # four more at 160 ms, 1000 ms each: three take the started slots, the fourth waits for the first (410)
    assert [place(w, 160.0, 1000.0) for _ in range(4)] == [pytest.approx(160.0)] * 3 + [410.0]
    # tick 0.2: 5 + 4 at the worker (ceil 4.5 = 5, bounded to 4); 0.3: 3 + 4 -> 4; 0.4: 1 + 4 -> 3: one slot goes,
    # the one that frees earliest (1160); 0.5: the 4 long ones -> 2: the next earliest goes
    w.advance(0.4)
    assert sorted(heap) == [pytest.approx(1160.0)] * 2 + [1410.0] and queue.slots == 3
    w.advance(0.5)
    assert sorted(heap) == [pytest.approx(1160.0), 1410.0] and queue.slots == 2
    assert w.timeline == [(0.0, 1), (pytest.approx(0.15), 4), (pytest.approx(0.4), 3), (pytest.approx(0.5), 2)]
    # 4 still run on 2 active slots: a request at 600 ms starts when fewer than 2 are busy, at 1160 ms
    assert place(w, 600.0, 100.0) == pytest.approx(1160.0)


def test_a_request_counts_from_its_arrival_at_the_worker_not_its_routing() -> None:
    w, heap, _ = worker(spec())
    place(w, 150.0, 100.0), place(w, 150.0, 100.0)  # routed before 0.1 s, on the network until 150 ms
    w.advance(0.1)  # none at the worker yet: nothing wanted
    assert heap == [350.0] and w.due_s == float("inf")
    w.advance(0.2)  # both there (one runs 150..250, one waits): 2 wanted
    assert sorted(heap) == [pytest.approx(250.0), 350.0] and w.due_s == pytest.approx(0.25)


def test_a_rise_while_slots_start_joins_that_start() -> None:
    w, heap, queue = worker(spec(slot_start_s=1.0))
    place(w, 10.0, 2000.0), place(w, 10.0, 2000.0)  # 10..2010, 2010..4010
    w.advance(0.1)  # 2 at the worker -> 2 wanted: one slot serves from 1.1 s
    assert sorted(heap) == [pytest.approx(1100.0), 4010.0]
    assert place(w, 150.0, 1000.0) == pytest.approx(1100.0) and place(w, 150.0, 1000.0) == pytest.approx(2100.0)
    w.advance(0.2)  # 4 at the worker -> 4: the two more serve with the start under way, at 1.1 s (live likewise)
    assert sorted(heap) == [pytest.approx(1100.0)] * 2 + [pytest.approx(3100.0), 4010.0] and queue.slots == 1
    w.advance(1.1)  # the start ends; the tick at 1.1 still sees 4 (none done before 2.01 s)
    assert w.timeline == [(0.0, 1), (pytest.approx(1.1), 4)] and queue.slots == 4


def test_a_fall_while_slots_start_drops_those_first_and_cancels_the_start() -> None:
    w, heap, queue = worker(spec(slot_start_s=1.0))
    for _ in range(3):  # 10..160, 160..310, 310..460
        place(w, 10.0, 150.0)
    w.advance(0.1)  # 3 -> 3 wanted: two slots start until 1.1 s
    assert sorted(heap) == [460.0] + [pytest.approx(1100.0)] * 2
    assert place(w, 150.0, 100.0) == 460.0  # 460..560 on the serving slot
    # 0.2, 0.3: 3 at the worker; 0.4: 2 (r2, r3) -> one starting slot dropped, the start goes on for the other
    w.advance(0.4)
    assert sorted(heap) == [560.0, pytest.approx(1100.0)] and w.due_s == pytest.approx(1.1)
    w.advance(0.5)  # 1 -> 1 wanted: the start is cancelled, nothing changed for the router
    assert heap == [560.0] and w.due_s == float("inf")
    w.advance(2.0)
    assert w.timeline == [(0.0, 1)] and queue.slots == 1


def test_active_slot_seconds_integrate_the_timeline() -> None:
    w, _, _ = worker(spec())
    w.timeline = [(0.0, 1), (0.5, 4), (2.0, 2)]
    assert w.active_slot_s(0.0, 3.0) == pytest.approx(0.5 + 6.0 + 2.0)
    assert w.active_slot_s(1.0, 2.5) == pytest.approx(4.0 + 1.0)


# -- the engine ----------------------------------------------------------------------------------------------------
AUTO = spec(upscale_delay_s=0.2, downscale_delay_s=1.0, look_back_period_s=0.5)
BURST = [i / 1000.0 for i in range(8)]  # 8 requests at 0..7 ms


def live_input(t_s: list[float], autoscaling: dict | None):
    inp = engine_input(t_s, [EDGE4], deadline=10_000.0)
    inp.host_ms = [100.0]  # EDGE4: 1 ms platform + 2 ms uplink, 100 ms compute, 3 ms downlink
    inp.live_queues = True
    inp.autoscaling = autoscaling
    return inp


def test_engine_slots_rise_after_the_delay_and_the_start_and_fall_back_once_idle() -> None:
    spy = Spy()
    rec = run_policy(live_input(BURST + [0.32, 0.40, 3.0, 3.001], {"edge": AUTO}), spy)
    # one slot: the burst reaches it at 3..10 ms and runs back to back, r_i on 3 + 100 i .. 103 + 100 i.
    # ticks 0.1, 0.2, 0.3 see 8, 7, 6 at the worker (mean > 4 from 0.1: 4 wanted); at 0.3 it has been wanted for
    # upscale_delay_s: 3 slots start, serving from 0.35
    assert rec.latency_ms[:8].tolist() == pytest.approx([106.0 + 99.0 * i for i in range(8)])
    # at 0.32 the router still counts 1 slot (r3..r7 in flight: 5 x 100 ms); the request takes a starting slot at
    # 350 ms: back at 453 -> 133 ms. At 0.40 it counts 4 (6 in flight: (6 - 4 + 1) x 100 / 4); a slot is free
    assert [(i, q, f) for i, q, f, _ in spy.seen[8:10]] == [(8, pytest.approx(500.0), 5), (9, pytest.approx(75.0), 6)]
    assert rec.latency_ms[8:10].tolist() == pytest.approx([133.0, 106.0])
    # idle from 0.9 (r7 done at 803 ms): fewer wanted from then on, taken after downscale_delay_s, at 1.9: one slot
    assert rec.active_slots == {("m", "edge"): [(0.0, 1), (pytest.approx(0.35), 4), (pytest.approx(1.9), 1)]}
    # at 3.0 two requests 1 ms apart share that one slot: the second waits for the first (100 ms); the router saw it
    assert rec.latency_ms[10:].tolist() == pytest.approx([106.0, 205.0])
    assert [(i, q, f) for i, q, f, _ in spy.seen[10:]] == [(10, 0.0, 0), (11, pytest.approx(100.0), 1)]
    # the burst alone: the start due at 0.35 is run at the end of the run (its last completion, 806 ms)
    alone = run_policy(live_input(BURST, {"edge": AUTO}), Spy())
    assert alone.active_slots == {("m", "edge"): [(0.0, 1), (pytest.approx(0.35), 4)]}


def test_engine_without_autoscaling_is_unchanged_and_never_scaled() -> None:
    t_s = BURST + [0.32, 0.40, 3.0, 3.001]
    plain = run_policy(live_input(t_s, None), Spy())  # a table world has no topology: no autoscaling
    none = run_policy(live_input(t_s, {}), Spy())
    # every slot of the tier, always: the burst 4 at a time, the two at 3.0 s in parallel
    assert plain.latency_ms.tolist() == pytest.approx([106.0] * 4 + [202.0] * 4 + [106.0] * 4)
    assert np.array_equal(plain.latency_ms, none.latency_ms) and plain.active_slots is none.active_slots is None
    # a controller that cannot change anything (min = max) leaves every request as it was, to the bit
    fixed = run_policy(live_input(t_s, {"edge": spec(min_slots=4)}), Spy())
    assert np.array_equal(fixed.latency_ms, plain.latency_ms) and np.array_equal(fixed.energy_j, plain.energy_j)
    assert fixed.active_slots == {("m", "edge"): [(0.0, 4)]}


def test_engine_without_live_queues_ignores_autoscaling_and_batching_workers_keep_their_slots() -> None:
    per_site = live_input(BURST, {"edge": AUTO})
    per_site.live_queues = False
    rec = run_policy(per_site, Spy())
    assert rec.active_slots is None and rec.latency_ms[:8].tolist() == pytest.approx([106.0] * 4 + [202.0] * 4)
    batching = live_input(BURST, {"edge": AUTO})
    batching.batching = {(0, "edge"): BatchModel(2, 1.0)}
    assert run_policy(batching, Spy()).active_slots is None


def test_engine_autoscaling_needs_one_replica_per_pair() -> None:
    inp = live_input(BURST, {"edge": AUTO})
    inp.replicas = {"edge": 2}
    with pytest.raises(ValueError, match="one replica"):
        run_policy(inp, Spy())


def test_autoscaling_comes_from_the_topology_unless_given() -> None:
    from pathlib import Path

    cluster = Path(__file__).resolve().parents[2] / "cluster"
    scaled = SimpleNamespace(topology=load_topology(cluster / "topology-autoscaling.yaml"))
    tiers = tuple(scaled.topology.tier_names)
    got = tier_autoscaling(None, scaled, tiers)
    assert set(got) == set(tiers) and got[tiers[0]].min_slots == 1
    assert tier_autoscaling(None, SimpleNamespace(topology=load_topology(cluster / "topology.yaml")), tiers) == {}
    assert tier_autoscaling({}, scaled, tiers) == {}  # explicitly none
    assert tier_autoscaling({"edge": AUTO, "x": AUTO}, SimpleNamespace(), ("edge",)) == {"edge": AUTO}
