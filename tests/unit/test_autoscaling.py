"""Autoscaling a (model, tier)'s compute slots: Serve's rule on an injected clock (maas.placement.autoscaling),
the resizable slots (maas.api.slot_pool), the worker that applies it and the router that sees it."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from pydantic import ValidationError

from maas.api.slot_pool import SlotPool
from maas.api.tier_worker import TierWorker
from maas.clock import ManualClock
from maas.placement.autoscaling import SlotAutoscaler
from maas.settings import load_settings
from maas.tiers import load_topology
from maas.tiers.spec import AutoscalingSpec
from tests.support.reference import sample_inputs

SPEC = AutoscalingSpec(min_slots=1, target_ongoing_requests=1.0, upscale_delay_s=2.0, downscale_delay_s=10.0,
                       look_back_period_s=1.0, metrics_interval_s=0.5, slot_start_s=0.5)


def _run(scaler: SlotAutoscaler, samples: list[tuple[float, float]]) -> list[int]:
    out = []
    for t_s, ongoing in samples:
        scaler.observe(t_s, ongoing)
        out.append(scaler.decide(t_s))
    return out


def test_scales_up_only_after_the_upscale_delay_to_the_mean_over_the_target():
    scaler = SlotAutoscaler(SPEC, max_slots=4, now_s=0.0)
    # 3 requests at the worker from t=1: the 1-s mean wants more from t=1.5 (2, then 3 from t=2); granted at 3.5
    samples = [(0.0, 0.0), (0.5, 0.0)] + [(1.0 + k / 2, 3.0) for k in range(6)]
    assert _run(scaler, samples) == [1, 1, 1, 1, 1, 1, 1, 3]


def test_never_beyond_the_tiers_slots_nor_below_the_minimum():
    scaler = SlotAutoscaler(SPEC.model_copy(update={"min_slots": 2}), max_slots=4, now_s=0.0)
    assert _run(scaler, [(t / 2, 50.0) for t in range(8)])[-1] == 4
    assert _run(scaler, [(10 + t, 0.0) for t in range(30)])[-1] == 2


def test_scales_down_after_the_downscale_delay_and_a_burst_restarts_the_wait():
    scaler = SlotAutoscaler(SPEC.model_copy(update={"upscale_delay_s": 0.0}), max_slots=4, now_s=0.0)
    assert _run(scaler, [(0.0, 4.0)]) == [4]
    quiet = [(1.0 + t, 0.0) for t in range(9)]  # wanting fewer from t=1
    assert _run(scaler, quiet)[-1] == 4  # t=9: wanted fewer for < 10 s
    assert _run(scaler, [(10.0, 8.0)]) == [4]  # a burst: the mean (0 + 8) / 2 wants the target, the wait resets
    later = _run(scaler, [(11.0 + t, 0.0) for t in range(12)])  # wanting fewer again from t=12
    assert later[:11] == [4] * 11 and later[-1] == 1  # at t=22 it steps down, straight to the wanted 1


def test_the_mean_is_over_the_look_back_window():
    scaler = SlotAutoscaler(SPEC.model_copy(update={"look_back_period_s": 2.0}), max_slots=8, now_s=0.0)
    for t_s, n in [(0.0, 6.0), (1.0, 0.0), (2.0, 0.0)]:
        scaler.observe(t_s, n)
    assert scaler.wanted() == 2  # (6 + 0 + 0) / 3
    scaler.observe(2.5, 0.0)  # t=0 leaves the window
    assert scaler.wanted() == 1


def test_a_minimum_above_the_tiers_slots_is_refused_naming_the_field():
    topo = load_topology(load_settings(None).topology_path)
    ground = topo.tiers["ground"].model_dump()
    ground["autoscaling"] = {"min_slots": ground["slots"] + 1}
    with pytest.raises(ValidationError, match="autoscaling.min_slots"):
        type(topo.tiers["ground"])(**ground)


def test_slot_pool_grows_with_waiters_shrinks_after_running_requests_and_passes_on_a_cancelled_grant():
    async def scenario() -> None:
        pool = SlotPool(1)
        await pool.acquire()
        waiters = [asyncio.create_task(pool.acquire()) for _ in range(3)]
        await asyncio.sleep(0)
        assert (pool.busy, pool.waiting) == (1, 3)
        pool.resize(3)  # two of them get the new slots at once
        await asyncio.sleep(0)
        assert (pool.busy, pool.waiting) == (3, 1) and sum(w.done() for w in waiters) == 2
        pool.resize(1)  # going down: the three running keep their slots, nobody else gets in
        pool.release()
        pool.release()
        await asyncio.sleep(0)
        assert (pool.busy, pool.waiting) == (1, 1) and not waiters[2].done()
        pool.release()  # now below one: the last waiter is handed the slot, but is cancelled before it runs
        waiters[2].cancel()
        await asyncio.gather(waiters[2], return_exceptions=True)
        assert (pool.busy, pool.waiting) == (0, 0)  # the grant came back
        late = asyncio.create_task(pool.acquire())
        late.cancel()  # cancelled while waiting? it was granted at once: either way nothing leaks
        await asyncio.gather(late, return_exceptions=True)
        assert pool.busy in (0, 1) and pool.waiting == 0

    asyncio.run(scenario())


def _worker(catalog, models_dir, clock: ManualClock, spec: AutoscalingSpec = SPEC) -> TierWorker:
    return TierWorker(catalog.get("digits-mlp"), models_dir, tier="ground", variant="fp32", slots=4, clock=clock,
                      offload_above_ms=1e9, autoscaler=SlotAutoscaler(spec, 4, clock.now_s()))


def test_worker_adds_slots_after_their_start_time_and_tells_its_owner(catalog, models_dir):
    clock = ManualClock(100.0)
    worker = _worker(catalog, models_dir, clock)
    told: list[int] = []
    worker.on_active = told.append
    assert worker.active_slots == 1

    async def scenario() -> None:
        worker.ongoing = 3  # three requests at the worker (as ``infer`` counts them)
        for _ in range(5):  # 2.5 s of samples at 0.5 s: wanted 3 for 2 s by the last
            worker.autoscale(clock.now_s())
            clock.advance(0.5)
        assert worker.autoscaler.target == 3 and worker.active_slots == 1  # decided, not started yet
        start = worker._starting
        await start  # slot_start_s on the clock
        assert worker.active_slots == 3 and told == [3]
        worker.ongoing = 0
        for _ in range(30):
            worker.autoscale(clock.now_s())
            clock.advance(0.5)
        assert worker.active_slots == 1 and told == [3, 1]

    asyncio.run(scenario())
    worker.close()


def test_worker_counts_requests_waiting_and_running_and_runs_them_on_its_active_slots(catalog, models_dir):
    clock = ManualClock(0.0)
    worker = _worker(catalog, models_dir, clock)

    async def scenario() -> list[float]:
        seen: list[int] = []
        gate = asyncio.Event()

        async def slow_sleep(seconds: float) -> None:  # the emulated device time: held until the test opens it
            seen.append(worker.ongoing)
            await gate.wait()

        clock.sleep_s = slow_sleep
        runs = [asyncio.create_task(worker.infer(sample_inputs("digits-mlp"), 100.0)) for _ in range(3)]
        for _ in range(10):
            await asyncio.sleep(0)
        assert worker.ongoing == 3 and len(seen) == 1  # one runs (one active slot), two wait
        gate.set()
        results = await asyncio.gather(*runs)
        assert worker.ongoing == 0
        return [r.queue_ms for r in results]

    queue_ms = asyncio.run(scenario())
    assert queue_ms[0] < queue_ms[1] and queue_ms[0] < queue_ms[2] and np.isfinite(queue_ms).all()
    worker.close()


def test_the_router_counts_the_active_slots_of_colocated_workers(catalog, models_dir):
    from maas.placement.live import build_live_placer
    from maas.placement.observe import in_flight
    from maas.serving.colocated import ColocatedBackend
    from tests.unit.test_colocated import RayLike

    clock = ManualClock(0.0)
    placer = build_live_placer(load_settings(None), clock)
    inner = RayLike()
    inner.view = {"digits-mlp:1": ["ground"]}
    backend = ColocatedBackend(inner, frozenset({"ground"}), lambda _t, _tier: _worker(catalog, models_dir, clock),
                               clock)  # no control loop: the test steps it
    backend.watch_slots(placer.set_active_slots)

    async def scenario() -> list[int]:
        await backend.warm(timeout_s=60)
        seen = [in_flight(placer)[("digits-mlp", "ground")][1]]
        backend._workers[("digits-mlp:1", "ground")].ongoing = 4
        for _ in range(6):
            backend.autoscale()
            clock.advance(0.5)
        await backend._workers[("digits-mlp:1", "ground")]._starting
        seen.append(in_flight(placer)[("digits-mlp", "ground")][1])
        return seen

    assert asyncio.run(scenario()) == [1, 4]  # the minimum at start, then the 4 the load wants
    assert backend.active_slots() == {("digits-mlp:1", "ground"): (4, 4)}


def test_over_ray_each_replica_is_a_slot_and_serves_autoscaler_keeps_min_to_the_tiers_slots():
    from maas.serving.rollout_control import replica_scaling

    ground = load_topology(load_settings(None).topology_path).tiers["ground"]
    assert replica_scaling(ground) == ({"num_replicas": 1}, ground.slots)  # no autoscaling: as before
    scaled = ground.model_copy(update={"autoscaling": SPEC.model_copy(update={"min_slots": 2})})
    options, slots = replica_scaling(scaled)
    config = options["autoscaling_config"]  # a ray.serve.config.AutoscalingConfig (replica_scaling validates it)
    assert slots == 1 and (config.min_replicas, config.max_replicas) == (2, ground.slots)
    assert (config.upscale_delay_s, config.downscale_delay_s, config.look_back_period_s) == (2.0, 10.0, 1.0)


def test_the_autoscaling_topology_is_the_default_one_plus_autoscaling() -> None:
    """cluster/topology-autoscaling.yaml (bench/bench_autoscaling.py) must not drift from cluster/topology.yaml in
    anything but the tiers' autoscaling."""
    from pathlib import Path

    import yaml

    root = Path(__file__).resolve().parents[2] / "cluster"
    base = yaml.safe_load((root / "topology.yaml").read_text())
    variant = yaml.safe_load((root / "topology-autoscaling.yaml").read_text())
    scaling = {name: tier.pop("autoscaling") for name, tier in variant["tiers"].items()}
    assert variant == base
    assert set(scaling) == set(base["tiers"]) and all(s["min_slots"] == 1 for s in scaling.values())
    load_topology(root / "topology-autoscaling.yaml")  # and it validates
