"""Dynamic batching in TierWorker: each request gets what it would get alone, limits by size and by delay on the
worker's clock, unstackable shapes wait for a later batch, cancelled callers leak nothing, slots bound batches."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import numpy as np
import pytest

from maas.api.tier_batcher import BatchPolicy
from maas.api.tier_worker import TierWorker
from maas.clock import ManualClock
from tests.support.reference import SENTENCES, digits_rows


class StepClock(ManualClock):
    """Sleeps wait until the test advances the clock past their end; counts sleepers (batches holding slots)."""

    def __init__(self) -> None:
        super().__init__(0.0)
        self._sleepers: list[tuple[float, asyncio.Future]] = []
        self.most_sleepers = 0

    async def sleep_s(self, seconds: float) -> None:
        if seconds <= 0:
            return
        done = asyncio.get_running_loop().create_future()
        self._sleepers.append((self.now_s() + seconds, done))
        self.most_sleepers = max(self.most_sleepers, sum(1 for _, f in self._sleepers if not f.done()))
        try:
            await done
        finally:
            self._sleepers = [(t, f) for t, f in self._sleepers if f is not done]

    def advance(self, seconds: float) -> None:
        super().advance(seconds)
        for until, done in self._sleepers:
            if until <= self.now_s() + 1e-12 and not done.done():
                done.set_result(None)


async def settle(ticks: int = 50) -> None:
    """Let every ready task run (a bounded number of loop turns; nothing here waits on real time)."""
    for _ in range(ticks):
        await asyncio.sleep(0)


class FakeRunner:
    """y = row sums of x, any trailing shape; records the batch shapes it ran."""

    manifest = SimpleNamespace(name="fake", preprocessing=None,
                               inputs=[SimpleNamespace(name="x", datatype="FP32", shape=[-1, -1])])

    def __init__(self) -> None:
        self.calls: list[tuple[int, ...]] = []

    def warmup(self) -> None:
        self.infer({"x": np.zeros((1, 4), np.float32)})

    def infer(self, inputs):
        x = inputs["x"]
        self.calls.append(x.shape)
        return {"y": x.reshape(len(x), -1).sum(axis=1)}


def fake_worker(clock, *, slots=1, policy: BatchPolicy, perf=None):
    runner = FakeRunner()
    kwargs = {"perf_counter": perf} if perf is not None else {}
    worker = TierWorker(runner.manifest, None, tier="t", variant="fp32", slots=slots, clock=clock, runner=runner,
                        batching=policy, **kwargs)
    runner.calls.clear()
    return worker, runner


def digits_worker(catalog, models_dir, policy, *, variant="fp32", slots=1):
    return TierWorker(catalog.get("digits-mlp"), models_dir, tier="ground", variant=variant, slots=slots,
                      clock=ManualClock(0.0), batching=policy)


def test_batched_digits_equal_unbatched_split_by_rows(catalog, models_dir):
    x = np.concatenate([digits_rows(20), np.random.default_rng(3).uniform(0, 16, (10, 64)).astype(np.float32)])
    sizes = [1, 3, 1, 2, 4, 1, 1, 5, 2, 1, 6, 3]
    parts = np.split(x, np.cumsum(sizes)[:-1])
    alone_worker = digits_worker(catalog, models_dir, None)
    batched_worker = digits_worker(catalog, models_dir, BatchPolicy(4, 0.0))
    assert batched_worker.batching_on and not alone_worker.batching_on

    async def run(worker):
        return await asyncio.gather(*[worker.infer({"pixels": p}, 2.0) for p in parts])

    alone, batched = asyncio.run(run(alone_worker)), asyncio.run(run(batched_worker))
    assert [r.batch_size for r in alone] == [None] * len(parts)
    assert [r.batch_size for r in batched] == [4] * len(parts)  # 12 queued at once, 4 per batch
    for a, b, p in zip(alone, batched, parts, strict=True):
        assert b.outputs["probabilities"].shape == (len(p), 10)
        np.testing.assert_allclose(b.outputs["probabilities"], a.outputs["probabilities"], rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(b.outputs["label"], a.outputs["label"])
    first = batched[:4]  # one batch: one host time, shared by rows, device time = batch host x factor
    assert len({r.batch_host_ms for r in first}) == 1
    assert sum(r.host_ms for r in first) == pytest.approx(first[0].batch_host_ms)
    assert first[1].host_ms == pytest.approx(3 * first[0].host_ms)
    assert first[0].batch_compute_ms == pytest.approx(2.0 * first[0].batch_host_ms)
    assert sum(r.compute_ms for r in first) == pytest.approx(first[0].batch_compute_ms)


def test_batched_minilm_equals_unbatched_with_padding(catalog, models_dir):
    texts = [*SENTENCES, "hi", "edge " * 40]
    manifest = catalog.get("minilm-embed")
    alone_worker = TierWorker(manifest, models_dir, tier="ground", variant="fp32", slots=1, clock=ManualClock(0.0))
    batched_worker = TierWorker(manifest, models_dir, tier="ground", variant="fp32", slots=1, clock=ManualClock(0.0),
                                batching=BatchPolicy(8, 0.0))
    assert batched_worker.batching_on
    inputs = [{"text": np.array([t.encode()], dtype=object)} for t in texts]

    async def run(worker):
        return await asyncio.gather(*[worker.infer(i) for i in inputs])

    alone, batched = asyncio.run(run(alone_worker)), asyncio.run(run(batched_worker))
    assert [r.batch_size for r in batched] == [len(texts)] * len(texts)
    for a, b in zip(alone, batched, strict=True):
        np.testing.assert_allclose(b.outputs["embedding"], a.outputs["embedding"], atol=1e-5)


def test_dynamic_int8_is_not_batched_unless_allowed(catalog, models_dir):
    refused = digits_worker(catalog, models_dir, BatchPolicy(4, 0.0), variant="int8")
    assert not refused.batching_on and "allow_inexact" in refused.batching_off_reason
    assert refused.batch_profile_ms == {}
    allowed = digits_worker(catalog, models_dir, BatchPolicy(4, 0.0, allow_inexact=True), variant="int8")
    assert allowed.batching_on and allowed.batching_off_reason is None


def test_batch_profile_measured_at_powers_of_two_up_to_the_limit(catalog, models_dir):
    worker = digits_worker(catalog, models_dir, BatchPolicy(6, 0.0))
    assert sorted(worker.batch_profile_ms) == [1, 2, 4, 6]
    assert all(ms > 0 for ms in worker.batch_profile_ms.values())
    assert digits_worker(catalog, models_dir, None).batch_profile_ms == {}


def test_size_limit_then_delay_limit_on_the_clock():
    async def scenario():
        clock = StepClock()
        worker, runner = fake_worker(clock, policy=BatchPolicy(3, 1000.0))
        calls = [asyncio.create_task(worker.infer({"x": np.full((1, 2), i, np.float32)})) for i in range(7)]
        await settle()
        assert [c.done() for c in calls] == [True] * 6 + [False]  # two full batches at once, no waiting
        assert runner.calls == [(3, 2), (3, 2)]
        clock.advance(0.999)
        await settle()
        assert not calls[6].done(), "the last request left before its delay ran out"
        clock.advance(0.002)
        await settle()
        assert calls[6].done() and (await calls[6]).batch_size == 1
        assert [float((await c).outputs["y"][0]) for c in calls] == [2.0 * i for i in range(7)]

    asyncio.run(scenario())


def test_delay_gathers_what_arrives_within_it():
    async def scenario():
        clock = StepClock()
        worker, runner = fake_worker(clock, policy=BatchPolicy(8, 5.0))
        first = asyncio.create_task(worker.infer({"x": np.ones((1, 2), np.float32)}))
        await settle()
        clock.advance(0.003)
        second = asyncio.create_task(worker.infer({"x": np.ones((2, 2), np.float32)}))
        await settle()
        assert not first.done() and runner.calls == []
        clock.advance(0.0021)
        await settle()
        assert runner.calls == [(3, 2)]
        assert (await first).batch_size == (await second).batch_size == 2
        np.testing.assert_array_equal((await second).outputs["y"], [2.0, 2.0])

    asyncio.run(scenario())


def test_unstackable_shapes_go_in_a_later_batch_in_order():
    async def scenario():
        worker, runner = fake_worker(StepClock(), policy=BatchPolicy(8, 0.0))
        shapes = [(1, 3), (1, 5), (1, 3), (2, 5), (1, 3)]
        calls = [asyncio.create_task(worker.infer({"x": np.ones(s, np.float32) * (i + 1)}))
                 for i, s in enumerate(shapes)]
        results = await asyncio.wait_for(asyncio.gather(*calls), timeout=5)
        assert runner.calls == [(3, 3), (3, 5)]
        for i, (s, r) in enumerate(zip(shapes, results, strict=True)):
            np.testing.assert_array_equal(r.outputs["y"], np.full(s[0], (i + 1) * s[1]))
        assert [r.batch_size for r in results] == [3, 2, 3, 2, 3]

    asyncio.run(scenario())


def test_cancelled_callers_do_not_break_the_batch_or_leak_slots():
    async def scenario():
        clock = StepClock()
        worker, runner = fake_worker(clock, slots=1, policy=BatchPolicy(8, 10.0))
        a, b, c = (asyncio.create_task(worker.infer({"x": np.full((1, 2), v, np.float32)}, 1000.0)) for v in (1, 2, 3))
        await settle()
        b.cancel()  # while queued
        await settle()
        clock.advance(0.010)  # the delay: the batch forms without b and holds the slot for its device time
        await settle()
        assert runner.calls == [(2, 2)]
        a.cancel()  # while its batch runs
        await settle()
        clock.advance(10.0)
        await settle()
        assert b.cancelled() and a.cancelled()
        assert (await c).batch_size == 2 and float((await c).outputs["y"][0]) == 6.0
        pending = asyncio.create_task(worker.infer({"x": np.ones((1, 2), np.float32)}))
        await settle()
        clock.advance(0.010)
        later = await asyncio.wait_for(pending, timeout=5)
        assert later.outputs["y"][0] == 2.0  # the slot came back
        assert worker._slots.busy == worker._slots.active  # the dispatcher holds the only slot while it waits for work
        assert worker._batcher.queued() == 0

    asyncio.run(scenario())


def test_concurrent_batches_never_exceed_slots():
    async def scenario():
        clock = StepClock()
        worker, runner = fake_worker(clock, slots=2, policy=BatchPolicy(2, 0.0))
        calls = [asyncio.create_task(worker.infer({"x": np.ones((1, 2), np.float32)}, 1000.0)) for _ in range(10)]
        await settle()
        assert len(runner.calls) == 2 and sum(c.done() for c in calls) == 0
        for _ in range(10):
            clock.advance(1.0)
            await settle()
        assert all(c.done() for c in calls) and len(runner.calls) == 5
        assert clock.most_sleepers == 2
        assert [(await c).batch_size for c in calls] == [2] * 10

    asyncio.run(scenario())


def test_a_failing_request_fails_alone():
    async def scenario():
        worker, runner = fake_worker(StepClock(), policy=BatchPolicy(8, 0.0))
        good = {"x": np.ones((1, 2), np.float32)}
        real = runner.infer

        def picky(inputs):
            if np.any(inputs["x"] < 0):
                raise ValueError("negative input")
            return real(inputs)

        worker._batcher._run = picky
        calls = [asyncio.create_task(worker.infer(i)) for i in (good, {"x": -np.ones((1, 2), np.float32)}, good)]
        done = await asyncio.wait_for(asyncio.gather(*calls, return_exceptions=True), timeout=5)
        assert isinstance(done[1], ValueError)
        assert done[0].outputs["y"][0] == 2.0 and done[2].outputs["y"][0] == 2.0

    asyncio.run(scenario())


def test_a_batch_of_n_is_charged_less_than_n_singles():
    class CostPerf:
        """A fake perf counter: a runner call costs 1 ms + 0.1 ms per row (only runner calls move it)."""

        def __init__(self) -> None:
            self.t = 0.0

        def __call__(self) -> float:
            return self.t

    perf = CostPerf()
    clock = StepClock()
    worker, runner = fake_worker(clock, policy=BatchPolicy(4, 0.0), perf=perf)
    real = runner.infer

    def costly(inputs):
        perf.t += (1.0 + 0.1 * len(inputs["x"])) / 1e3
        return real(inputs)

    worker._batcher._run = costly

    async def four():
        return await asyncio.gather(*[worker.infer({"x": np.ones((1, 2), np.float32)}, 0.5) for _ in range(4)])

    batched = asyncio.run(four())
    assert sum(r.host_ms for r in batched) == pytest.approx(1.4)  # what energy is booked from
    assert sum(r.compute_ms for r in batched) == pytest.approx(0.7)  # what the device ledger and battery get
    assert all(r.batch_host_ms == pytest.approx(1.4) for r in batched)  # what each one waited through
    single = 1.1
    assert sum(r.host_ms for r in batched) < 4 * single


def _topology_with(tmp_path, batching):
    import yaml

    from maas.tiers import load_topology
    from tests.unit.test_tiers_config import DEFAULT

    raw = yaml.safe_load(DEFAULT.read_text())
    raw["sites"]["generator"]["count"] = 5
    raw["tiers"]["ground"]["batching"] = batching
    path = tmp_path / "topo.yaml"
    path.write_text(yaml.safe_dump(raw))
    return load_topology(path)


def test_batching_config_defaults_off_and_overrides_per_model(tmp_path):
    from maas.serving.tier_deployment import batching_policy

    topo = _topology_with(tmp_path, {"max_batch_size": 8, "max_queue_delay_ms": 2.0,
                                     "models": {"minilm-embed": {"max_batch_size": 32}}})
    assert topo.tiers["satellite"].batching.max_batch_size == 1  # not configured: off
    ground = topo.tiers["ground"]
    assert batching_policy(ground, "digits-mlp") == {"max_batch_size": 8, "max_queue_delay_ms": 2.0,
                                                     "allow_inexact": False}
    assert BatchPolicy(**batching_policy(ground, "minilm-embed")) == BatchPolicy(32, 2.0, False)


@pytest.mark.parametrize(("batching", "field"), [
    ({"max_batch_size": 0}, "tiers.ground.batching.max_batch_size"),
    ({"max_queue_delay_ms": -1}, "tiers.ground.batching.max_queue_delay_ms"),
    ({"models": {"digits-mlp": {"max_batch_size": 0}}}, "tiers.ground.batching.models.digits-mlp.max_batch_size"),
    ({"max_batch": 4}, "tiers.ground.batching.max_batch"),
])
def test_bad_batching_config_names_the_field(tmp_path, batching, field):
    from maas.errors import ConfigError

    with pytest.raises(ConfigError) as err:
        _topology_with(tmp_path, batching)
    assert field in str(err.value)


def test_batch_policy_rejects_bad_values():
    with pytest.raises(ValueError, match="max_batch_size"):
        BatchPolicy(0)
    with pytest.raises(ValueError, match="max_queue_delay_ms"):
        BatchPolicy(2, -1.0)
