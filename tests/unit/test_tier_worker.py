"""TierWorker: emulated device time is held through the clock; slots bound concurrency; outputs are the model's."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from maas.api.tier_worker import TierWorker
from maas.clock import ManualClock
from tests.support.reference import run_onnx_directly, sample_inputs


def _worker(catalog, models_dir, clock, slots=1, variant="fp32"):
    return TierWorker(catalog.get("digits-mlp"), models_dir, tier="satellite", variant=variant, slots=slots, clock=clock)


def test_slower_device_holds_the_slot_for_the_extra_time(catalog, models_dir):
    clock = ManualClock(0.0)
    worker = _worker(catalog, models_dir, clock)
    result = asyncio.run(worker.infer(sample_inputs("digits-mlp"), compute_factor=3.0))
    assert result.compute_ms == pytest.approx(3.0 * result.host_ms)
    assert clock.slept_s == [pytest.approx((result.compute_ms - result.host_ms) / 1e3)]
    expected = run_onnx_directly(catalog.get("digits-mlp"), models_dir, "fp32", sample_inputs("digits-mlp"))
    np.testing.assert_allclose(result.outputs["probabilities"], expected["probabilities"], rtol=1e-6)


def test_faster_device_reports_less_time_and_sleeps_nothing(catalog, models_dir):
    clock = ManualClock(0.0)
    result = asyncio.run(_worker(catalog, models_dir, clock).infer(sample_inputs("digits-mlp"), compute_factor=0.25))
    assert result.compute_ms == pytest.approx(0.25 * result.host_ms)
    assert clock.slept_s == []


def test_one_slot_makes_the_second_request_queue(catalog, models_dir):
    class GatedClock(ManualClock):
        """Sleeps wait on an event, so a request holds its slot until the test lets it go."""

        def __init__(self) -> None:
            super().__init__(0.0)
            self.release = asyncio.Event()

        async def sleep_s(self, seconds: float) -> None:
            await self.release.wait()

    async def scenario():
        clock = GatedClock()
        worker = _worker(catalog, models_dir, clock, slots=1)
        first = asyncio.create_task(worker.infer(sample_inputs("digits-mlp"), compute_factor=1000.0))
        second = asyncio.create_task(worker.infer(sample_inputs("digits-mlp"), compute_factor=1.0))
        while not first.done() and worker._slots.locked() is False:
            await asyncio.sleep(0)
        for _ in range(5):
            await asyncio.sleep(0)
        assert not second.done(), "the second request ran while the only slot was held"
        clock.release.set()
        return await first, await second

    first, second = asyncio.run(scenario())
    assert first.queue_ms < second.queue_ms


def test_zero_slots_is_refused(catalog, models_dir):
    with pytest.raises(ValueError, match="slots"):
        _worker(catalog, models_dir, ManualClock(), slots=0)
