"""Dynamic batching in virtual time: the batch model (costs, the router's queue estimate), the virtual batcher's
exact timelines, and the engine with a batching (model, tier) worker. No sleeps: every time is virtual."""

from __future__ import annotations

import numpy as np
import pytest

from maas.placement import BatchModel, BatchQueue, batch_ratios
from maas.routing.views import TierQueue
from maas.sim.batcher import VirtualBatcher
from maas.sim.engine import run_policy
from tests.unit.test_sim_engine import EDGE, Spy, engine_input

PROFILE = {1: 10.0, 2: 12.0, 4: 16.0}  # host ms of one call at batch 1, 2, 4: a batch of 4 costs 1.6 singles


# -- the batch model -----------------------------------------------------------------------------------------------
def test_ratios_interpolate_the_profile_and_extrapolate_its_per_row_cost() -> None:
    assert batch_ratios(PROFILE, 6) == pytest.approx((1.0, 1.2, 1.4, 1.6, 2.0, 2.4))
    assert batch_ratios({}, 3) == (1.0, 2.0, 3.0)  # nothing measured: n singles, nothing saved
    assert batch_ratios({2: 8.0, 4: 12.0}, 4) == pytest.approx((1.0, 2.0, 2.5, 3.0))  # batch 1 from batch 2's row
    assert batch_ratios({1: 10.0, 2: 9.0}, 2) == (1.0, 1.0)  # never below one single (measurement noise)


def test_the_queue_estimate_has_the_forming_wait_the_slot_wait_and_the_batch_run() -> None:
    m = BatchModel(4, 5.0, PROFILE)
    assert m.wait_ms(0, 1, 10.0) == pytest.approx(5.0)  # alone: waits up to the delay for others, runs alone
    assert m.wait_ms(2, 1, 10.0) == pytest.approx(5.0 + 10.0 * 0.4)  # joins a batch of 3: runs 1.4 singles
    assert m.wait_ms(3, 1, 10.0) == pytest.approx(10.0 * 0.6)  # fills the batch: no forming wait
    # 4 ahead fill a batch that holds the one slot for 16 ms; that wait covers the 5 ms delay
    assert m.wait_ms(4, 1, 10.0) == pytest.approx(16.0)
    assert m.wait_ms(4, 2, 10.0) == pytest.approx(5.0)  # a second slot is free
    assert m.ratio(2) == pytest.approx(1.2) and m.share(4) == pytest.approx(0.4)
    with pytest.raises(ValueError):
        BatchModel(1, 5.0)


def test_a_batch_queue_is_a_tier_queue() -> None:
    q = BatchQueue(in_flight=[0], slots=2, batch=BatchModel(2, 1.0))
    assert isinstance(q, TierQueue) and q.backlog_ms is None and q.batch.max_batch_size == 2


# -- the virtual batcher -------------------------------------------------------------------------------------------
def timeline(model: BatchModel, slots: int, arrivals: list[tuple[float, int]], run_ms: float = 10.0,
             until_ms: float = float("inf")) -> tuple[list[tuple[float, list[int]]], VirtualBatcher]:
    started: list[tuple[float, list[int]]] = []

    def start(items, t_ms):
        started.append((t_ms, list(items)))
        return run_ms * model.ratio(len(items))

    b = VirtualBatcher(model, slots, start)
    for t, i in arrivals:
        b.add(t, i, i)
    b.advance(until_ms)
    return started, b


def test_a_full_batch_starts_at_once_and_a_lone_request_after_the_delay() -> None:
    started, _ = timeline(BatchModel(3, 5.0), 1, [(0.0, 0), (1.0, 1), (2.0, 2), (40.0, 3)])
    assert started == [(2.0, [0, 1, 2]), (45.0, [3])]


def test_the_delay_counts_from_the_head_and_arrivals_by_then_join() -> None:
    started, _ = timeline(BatchModel(4, 5.0), 1, [(0.0, 0), (3.0, 1), (5.0, 2), (5.5, 3)])
    assert started == [(5.0, [0, 1, 2]), (35.0, [3])]  # 3 waits for the one slot: 5 + 3 x 10 ms


def test_requests_queued_behind_a_busy_slot_go_together_when_it_frees() -> None:
    # batch [0] runs 5..15 (10 ms); 1, 2, 3 arrive meanwhile: their head waited past its delay, so they start
    # at 15 as one batch of 3 (14 ms at ratio 1.4 with PROFILE's shape); 4 arrives at 16 and waits for the slot
    started, _ = timeline(BatchModel(4, 5.0, PROFILE), 1, [(0.0, 0), (6.0, 1), (7.0, 2), (8.0, 3), (16.0, 4)])
    assert started == [(5.0, [0]), (15.0, [1, 2, 3]), (29.0, [4])]


def test_two_slots_form_the_next_batch_while_one_runs() -> None:
    started, _ = timeline(BatchModel(2, 5.0), 2, [(0.0, 0), (1.0, 1), (2.0, 2), (3.0, 3), (4.0, 4)])
    assert started == [(1.0, [0, 1]), (3.0, [2, 3]), (21.0, [4])]  # slot 1 frees at 21 (1 + 20)


def test_arrivals_out_of_dispatch_order_are_batched_in_arrival_order() -> None:
    started, _ = timeline(BatchModel(2, 5.0), 1, [(4.0, 0), (1.0, 1), (9.0, 2)])
    assert started == [(4.0, [1, 0]), (24.0, [2])]


def test_a_batch_is_decided_only_once_the_clock_reaches_its_start() -> None:
    started, b = timeline(BatchModel(3, 5.0), 1, [(0.0, 0), (1.0, 1)], until_ms=4.9)
    assert started == [] and b.next_start_ms() == 5.0
    b.add(4.95, 2, 2)  # a third arrival before the delay ends fills the batch
    b.advance(5.0)
    assert started == [(4.95, [0, 1, 2])] and not b.waiting and b.batches == 1


# -- the engine with a batching worker -----------------------------------------------------------------------------
def batched_input(t_s: list[float], model: BatchModel):
    inp = engine_input(t_s, [EDGE], deadline=30.0)
    inp.live_queues = True
    inp.batching = {(0, "edge"): model}
    return inp


def test_engine_timeline_with_a_batching_worker() -> None:
    """EDGE: 1 ms platform + 2 ms uplink, 10 ms compute alone, 3 ms downlink, one slot, 0.1 J alone."""
    spy = Spy()
    rec = run_policy(batched_input([0.0, 0.001, 0.002, 0.050], BatchModel(3, 4.0, PROFILE)), spy)
    # r0..r2 reach the worker at 3, 4, 5 ms: full at 5, one batch of 3 runs 14 ms (1.4 singles): 5..19, back at 22
    # -> 22, 21, 20 ms. r3 at 50 ms arrives at 53, waits the 4 ms delay alone, runs 57..67, back at 70 -> 20 ms.
    assert rec.latency_ms.tolist() == pytest.approx([22.0, 21.0, 20.0, 20.0])
    assert rec.batch_sizes == [3, 1]
    # each of the three is charged its share (1.4 / 3 of a single's 0.1 J), the lone one a single
    assert rec.energy_j.tolist() == pytest.approx([0.1 * 1.4 / 3] * 3 + [0.1])
    assert rec.tier.tolist() == [0, 0, 0, 0] and rec.met.all()
    # the router saw the batch wait: r0 alone (forming delay 4), r1 joining a batch of 2 (4 + 10 x 0.2), r2 filling
    # it (10 x 0.4), r3 alone again
    assert [(i, q, f) for i, q, f, _ in spy.seen] == [
        (0, pytest.approx(4.0), 0), (1, pytest.approx(6.0), 1), (2, pytest.approx(4.0), 2), (3, pytest.approx(4.0), 0)]
    # completions in time order (r2's batch-mates finish together; r2 was sent last)
    assert [round(at - 1000.0, 6) for at, _, _ in spy.observed] == [0.022, 0.022, 0.022, 0.07]


def test_a_batch_that_saves_nothing_costs_what_singles_do_and_finishes_together() -> None:
    """No delay and a profile where 2 rows cost 2 singles: the same energy as the unbatched worker; the two
    requests queued behind the busy slot run as one batch and come back together (live queues both)."""
    t_s = [0.0, 0.001, 0.002, 0.030]
    plain = engine_input(t_s, [EDGE], deadline=30.0)
    plain.live_queues = True
    one = run_policy(plain, Spy())
    batched = run_policy(batched_input(t_s, BatchModel(2, 0.0, {1: 10.0, 2: 20.0})), Spy())
    # r0 runs alone 3..13; r1 and r2 queued behind it run as one batch 13..33 (2 x 10 ms), both back at 36
    assert one.latency_ms.tolist() == pytest.approx([16.0, 25.0, 34.0, 16.0])
    assert batched.latency_ms.tolist() == pytest.approx([16.0, 35.0, 34.0, 16.0])
    assert batched.batch_sizes == [1, 2, 1]
    assert np.allclose(one.energy_j, batched.energy_j)


def test_batching_needs_live_queues() -> None:
    inp = batched_input([0.0], BatchModel(2, 1.0))
    inp.live_queues = False
    with pytest.raises(ValueError, match="live_queues"):
        run_policy(inp, Spy())
