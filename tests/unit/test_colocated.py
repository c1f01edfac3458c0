"""One hop less (maas.serving.colocated): which tiers run beside the gateway, and how requests reach them."""

from __future__ import annotations

import asyncio
import threading

import numpy as np
import pytest

from maas.api.tier_worker import TierResult, TierWorker
from maas.clock import ManualClock
from maas.models import ModelRunner
from maas.serving.colocated import ColocatedBackend, tiers_on_node
from maas.settings import load_settings
from tests.support.reference import run_onnx_directly, sample_inputs

TIER_RESOURCES = {"base-station": "tier:base-station", "ground": "tier:ground", "satellite": "tier:satellite"}


@pytest.mark.parametrize(
    ("node", "overrides", "expected"),
    [
        ({"CPU": 2, "tier:base-station": 1000, "tier:ground": 1000, "tier:satellite": 1000}, {},
         {"base-station", "ground", "satellite"}),  # the embedded single node carries every tier
        ({"CPU": 1}, {}, set()),  # a multi-node head: every tier stays on its own nodes
        ({"CPU": 1, "tier:ground": 10}, {}, {"ground"}),
        ({"tier:ground": 10}, {"gateway_replicas": 2}, set()),  # slots would be counted per replica
        ({"tier:ground": 10}, {"colocated_tiers": "off"}, set()),
        ({"tier:ground": 0.0}, {}, set()),
    ],
)
def test_tiers_on_node(node, overrides, expected):
    assert tiers_on_node(node, TIER_RESOURCES, load_settings(None, **overrides)) == expected


class RayLike:
    """The inner backend: counts what reaches it, and serves a discovery view the test sets."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self.view: dict[str, list[str]] = {"m:1": ["ground", "satellite"]}

    def deployed(self) -> dict[str, list[str]]:
        return self.view

    def deployed_targets(self) -> dict[str, list[str]]:
        return self.view

    async def infer(self, model, tier, inputs, compute_factor) -> TierResult:
        self.calls.append((model, tier))
        return TierResult({"over": np.zeros(1)}, 0.0, 0.0, 0.0)


def _worker(catalog, models_dir, tier: str) -> TierWorker:
    return TierWorker(catalog.get("digits-mlp"), models_dir, tier=tier, variant="fp32", slots=1, clock=ManualClock(0.0),
                      offload_above_ms=1e9)


async def _settle(backend: ColocatedBackend) -> None:
    for _ in range(200):  # the build runs in a worker thread; poll, do not sleep a fixed time
        if not backend._building:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the worker was never built")


def test_first_request_goes_over_ray_then_the_worker_serves_in_process(catalog, models_dir):
    inner, built = RayLike(), []

    def build(target, tier):
        built.append((target, tier))
        return _worker(catalog, models_dir, tier)

    backend = ColocatedBackend(inner, frozenset({"ground"}), build, ManualClock(0.0))
    inputs = sample_inputs("digits-mlp")

    async def scenario():
        first = await backend.infer("m:1", "ground", inputs, 1.0)
        await _settle(backend)
        second = await backend.infer("m:1", "ground", inputs, 1.0)
        other = await backend.infer("m:1", "satellite", inputs, 1.0)  # not colocated: always over Ray
        return first, second, other

    first, second, other = asyncio.run(scenario())
    assert "over" in first.outputs and "probabilities" in second.outputs and "over" in other.outputs
    assert inner.calls == [("m:1", "ground"), ("m:1", "satellite")]
    assert built == [("m:1", "ground")]
    assert backend.in_process() == [("m:1", "ground")]


def test_a_worker_that_cannot_be_built_stays_on_ray(catalog, models_dir):
    inner = RayLike()

    attempts = []

    def build(target, tier):
        attempts.append((target, tier))
        raise FileNotFoundError("artifact gone")

    backend = ColocatedBackend(inner, frozenset({"ground"}), build, ManualClock(0.0))

    async def scenario():
        for _ in range(3):
            await backend.infer("m:1", "ground", sample_inputs("digits-mlp"), 1.0)
            await _settle(backend)

    asyncio.run(scenario())
    assert inner.calls == [("m:1", "ground")] * 3 and backend.in_process() == []
    assert attempts == [("m:1", "ground")]  # tried once, not on every request
    backend.prune()  # a failure may have been passing (the database busy): tried again after prune_s
    asyncio.run(scenario())
    assert attempts == [("m:1", "ground")] * 2


def test_a_worker_idle_for_idle_s_is_dropped_and_rebuilt_when_asked_again(catalog, models_dir):
    inner, kept, built = RayLike(), [], []
    clock = ManualClock(1000.0)

    def build(target, tier):
        built.append((target, tier))
        return _worker(catalog, models_dir, tier)

    backend = ColocatedBackend(inner, frozenset({"ground"}), build, clock, retain=kept.append, idle_s=600.0)

    async def ask() -> None:
        await backend.infer("m:1", "ground", sample_inputs("digits-mlp"), 1.0)
        await _settle(backend)

    asyncio.run(ask())
    clock.advance(599.0)
    assert backend.prune() == []
    asyncio.run(ask())  # served in process: idle time starts again
    clock.advance(599.0)
    assert backend.prune() == [] and backend.in_process() == [("m:1", "ground")]
    clock.advance(1.0)
    assert backend.prune() == [("m:1", "ground")]
    assert backend.in_process() == [] and kept == [set()]
    asyncio.run(ask())  # asked again: over Ray once, then rebuilt
    assert inner.calls == [("m:1", "ground")] * 2 and built == [("m:1", "ground")] * 2
    assert backend.in_process() == [("m:1", "ground")]


class ThreadNoting:
    """A ModelRunner that notes which thread each inference ran on."""

    def __init__(self, runner) -> None:
        self._runner, self.threads = runner, []

    def warmup(self) -> None:
        self._runner.warmup()

    def infer(self, inputs):
        self.threads.append(threading.get_ident())
        return self._runner.infer(inputs)


@pytest.mark.parametrize(("offload_above_ms", "off_loop"), [(0.0, True), (1e9, False)])
def test_a_slow_model_runs_off_the_event_loop_and_a_fast_one_inline(catalog, models_dir, offload_above_ms, off_loop):
    manifest = catalog.get("digits-mlp")
    runner = ThreadNoting(ModelRunner(manifest, models_dir, variant="fp32"))
    worker = TierWorker(manifest, models_dir, tier="ground", variant="fp32", slots=1, clock=ManualClock(0.0),
                        runner=runner, offload_above_ms=offload_above_ms)
    assert worker.offloaded is off_loop and worker.warmup_ms > 0.0
    result = asyncio.run(worker.infer(sample_inputs("digits-mlp"), 1.0))
    loop_thread = threading.get_ident()
    assert (runner.threads[-1] != loop_thread) is off_loop
    expected = run_onnx_directly(manifest, models_dir, "fp32", sample_inputs("digits-mlp"))
    np.testing.assert_allclose(result.outputs["probabilities"], expected["probabilities"], rtol=1e-6)


def test_an_abandoned_offloaded_run_keeps_its_slot_until_its_thread_is_done(catalog, models_dir):
    """A caller that gives up (its timeout) must not free the slot while onnxruntime still runs in the thread, or a
    one-slot tier would run two inferences at once."""
    manifest = catalog.get("digits-mlp")
    entered, gate = threading.Event(), threading.Event()

    class Gated(ThreadNoting):
        def infer(self, inputs):
            entered.set()
            assert gate.wait(30), "the test never opened the gate"
            return self._runner.infer(inputs)

    runner = Gated(ModelRunner(manifest, models_dir, variant="fp32"))
    worker = TierWorker(manifest, models_dir, tier="satellite", variant="fp32", slots=1, clock=ManualClock(0.0),
                        runner=runner, offload_above_ms=0.0)

    async def scenario() -> tuple[bool, bool]:
        first = asyncio.create_task(worker.infer(sample_inputs("digits-mlp"), 1.0))
        assert await asyncio.to_thread(entered.wait, 30)
        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first
        held_after_cancel = worker._slots.locked()
        gate.set()
        second = await asyncio.wait_for(worker.infer(sample_inputs("digits-mlp"), 1.0), 30)
        return held_after_cancel, "probabilities" in second.outputs

    assert asyncio.run(scenario()) == (True, True)
    worker.close()


def test_warm_builds_every_deployed_colocated_pair_before_the_first_request(catalog, models_dir):
    inner, built = RayLike(), []
    inner.view = {"m:1": ["ground", "satellite"], "n:2": ["ground"]}

    def build(target, tier):
        built.append((target, tier))
        return _worker(catalog, models_dir, tier)

    backend = ColocatedBackend(inner, frozenset({"ground"}), build, ManualClock(0.0))
    inputs = sample_inputs("digits-mlp")

    async def scenario():
        seen = []
        task = asyncio.get_running_loop().create_task(backend.warm())
        await asyncio.sleep(0)  # the task starts: warming until the builds are done
        seen.append(backend.warming)
        done = await task
        seen.append(backend.warming)
        result = await backend.infer("m:1", "ground", inputs, 1.0)
        return seen, done, result

    seen, done, result = asyncio.run(scenario())
    assert seen == [True, False]
    assert sorted(done) == sorted(built) == [("m:1", "ground"), ("n:2", "ground")]  # satellite is not colocated
    assert inner.calls == [] and "over" not in result.outputs  # the first request ran in process


def test_warm_gives_up_after_its_timeout_and_reports_ready_again(catalog, models_dir):
    inner, release = RayLike(), threading.Event()

    def build(target, tier):
        release.wait(30)  # a build that takes longer than the warm-up may wait
        return _worker(catalog, models_dir, tier)

    backend = ColocatedBackend(inner, frozenset({"ground"}), build, ManualClock(0.0))

    async def scenario():
        done = await backend.warm(timeout_s=0.05)
        return done, backend.warming

    try:
        done, warming = asyncio.run(scenario())
    finally:
        release.set()
    assert done == [] and warming is False
