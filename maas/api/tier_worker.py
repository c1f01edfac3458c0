"""One model on one tier: an onnxruntime runner behind the tier's compute slots, with emulated device speed.

Transport-free: the Ray tier deployment (maas.serving.tier_deployment) and the in-process ``LocalBackend`` both
wrap a ``TierWorker``, so the emulation is the same with and without a cluster.

Lifecycle:
1. Built once per replica from a model manifest, the variant the tier serves (fp32 or int8) and the tier's slots.
2. ``infer`` waits for a free slot (that wait is ``queue_ms``), runs onnxruntime on the host (``host_ms``), then
   holds the slot for the extra time the emulated device would need (``compute_factor`` x host time).
3. Results carry the measured parts so the gateway can report them and the router can learn from them.
4. With a ``BatchPolicy`` that is on (``max_batch_size`` > 1), requests go through a ``TierBatcher``
   (``maas.api.tier_batcher``): several run as one onnxruntime call in one slot. At warm-up the worker checks the
   variant gives each request what it would get alone (else it does not batch unless the policy allows inexact
   batching: ``batching_off_reason``) and measures ``batch_profile_ms`` (host ms at batch sizes 1, 2, 4, ...).
5. With a ``SlotAutoscaler`` (``maas.placement.autoscaling``) only its target of the slots is active: the owner
   calls ``autoscale(now_s)`` every ``metrics_interval_s`` (sample the requests here, decide, apply); a slot added
   serves after ``slot_start_s``, one removed finishes what it runs. ``on_active(n)`` hears every change.

Beside the gateway (``maas.serving.colocated``, one hop less) the worker shares its event loop: a model whose
warm-up takes longer than ``offload_above_ms`` runs in a worker thread (onnxruntime releases the GIL) so one slow
inference does not stall every other request; a fast one runs inline, where a thread hand-off would cost more than
the inference. In its own Ray replica (``offload_above_ms`` None) it always runs inline, as before.
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from maas.api.slot_pool import SlotPool
from maas.api.tier_batcher import BatchPolicy, TierBatcher, batch_invariant, dummy_inputs
from maas.clock import Clock
from maas.models import ModelManifest, ModelRunner
from maas.placement.autoscaling import SlotAutoscaler

__all__ = ["TierResult", "TierWorker"]


@dataclass(slots=True)
class TierResult:
    """Outputs of one inference and how long each part took on the tier."""

    outputs: dict[str, np.ndarray]
    host_ms: float  # onnxruntime time on this host
    compute_ms: float  # emulated device time (host_ms x compute_factor)
    queue_ms: float  # waiting for a compute slot (and, batched, for the batch to form)
    # batched: host_ms/compute_ms are this request's share of its batch (by rows: energy is booked from them);
    # batch_host_ms/batch_compute_ms the whole batch's (what the request waited through); batch_size its requests.
    # None when the worker does not batch.
    batch_size: int | None = None
    batch_host_ms: float | None = None
    batch_compute_ms: float | None = None

    def ran_ms(self) -> tuple[float, float]:
        """(host ms, emulated device ms) of the run this request waited through: its batch's, or its own."""
        if self.batch_host_ms is None or self.batch_compute_ms is None:
            return self.host_ms, self.compute_ms
        return self.batch_host_ms, self.batch_compute_ms


class TierWorker:
    """Runs one model variant for one tier with ``slots`` concurrent computations."""

    def __init__(
        self,
        manifest: ModelManifest,
        models_dir: Path,
        *,
        tier: str,
        variant: str,
        slots: int,
        clock: Clock,
        ort_threads: int = 1,
        perf_counter=time.perf_counter,
        runner: ModelRunner | None = None,
        offload_above_ms: float | None = None,
        batching: BatchPolicy | None = None,
        autoscaler: SlotAutoscaler | None = None,
    ) -> None:
        self.tier = tier
        self.variant = variant
        self.model = manifest.name
        if slots < 1:
            raise ValueError(f"tier {tier}: slots must be >= 1, got {slots}")
        self._runner = runner or ModelRunner(manifest, models_dir, variant=variant, intra_op_threads=ort_threads)
        self.slots = slots
        self.autoscaler = autoscaler
        self._slots = SlotPool(slots if autoscaler is None else autoscaler.target)
        self._starting: asyncio.Task | None = None
        self.on_active = lambda _active: None
        self.ongoing = 0  # requests in ``infer``: waiting (for a slot or a batch) or running
        self._clock = clock
        self._perf = perf_counter
        self.warmup_ms = self._warmup_ms()
        # text models' cost grows with the tokens sent, which a batch-1 warm-up does not show: always off the loop
        self.offloaded = offload_above_ms is not None and (
            self.warmup_ms > offload_above_ms or manifest.preprocessing is not None)
        self._pool = ThreadPoolExecutor(slots, thread_name_prefix=f"tier-{tier}") if self.offloaded else None
        self.batching = batching or BatchPolicy()
        self.batching_off_reason: str | None = None
        self.batch_profile_ms: dict[int, float] = {}
        self._batcher: TierBatcher | None = None
        if self.batching.on:
            if not self.batching.allow_inexact and not batch_invariant(self._runner.infer, manifest):
                self.batching_off_reason = (f"{manifest.name} {variant}: outputs change with the batch (dynamic "
                                            "quantisation?); set allow_inexact to batch it anyway")
            else:
                self.batch_profile_ms = self._profile_batches(manifest, self.batching.max_batch_size)
                self._batcher = TierBatcher(self._runner.infer, self.batching, self._slots, clock, self._perf,
                                            self._pool, TierResult)

    def _warmup_ms(self, runs: int = 3) -> float:
        """The fastest of a few warm-up inferences (the first pays for lazy initialisation)."""
        best = float("inf")
        for _ in range(runs):
            t0 = self._perf()
            self._runner.warmup()
            best = min(best, (self._perf() - t0) * 1e3)
        return best

    def _profile_batches(self, manifest: ModelManifest, largest: int, runs: int = 3) -> dict[int, float]:
        """Host ms (fastest of ``runs``) of one call at batch sizes 1, 2, 4, ... and ``largest``."""
        sizes = sorted({*(2**i for i in range(largest.bit_length()) if 2**i <= largest), largest})
        profile, one = {}, dummy_inputs(manifest, 1)
        for size in sizes:
            inputs = {k: np.repeat(v, size, axis=0) for k, v in one.items()}  # same row: the batch effect alone
            best = float("inf")
            for _ in range(runs):
                t0 = self._perf()
                self._runner.infer(inputs)
                best = min(best, (self._perf() - t0) * 1e3)
            profile[size] = best
        return profile

    @property
    def batching_on(self) -> bool:
        """Whether requests are batched (the policy asks for it and the variant allows it)."""
        return self._batcher is not None

    @property
    def active_slots(self) -> int:
        """Slots serving now (all of them without autoscaling)."""
        return self._slots.active

    def autoscale(self, now_s: float) -> int:
        """One control step (lifecycle 5); returns the target number of active slots."""
        if self.autoscaler is None:
            return self._slots.active
        self.autoscaler.observe(now_s, self.ongoing)
        target = self.autoscaler.decide(now_s)
        if target < self._slots.active or (target == self._slots.active and self._starting is not None):
            self._cancel_start()
            self._set_active(target)
        elif target > self._slots.active and self._starting is None:
            self._starting = asyncio.get_running_loop().create_task(self._start_slots())
        return target

    async def _start_slots(self) -> None:
        try:
            await self._clock.sleep_s(self.autoscaler.spec.slot_start_s)
            self._set_active(max(self.autoscaler.target, 1))
        finally:
            if self._starting is asyncio.current_task():
                self._starting = None

    def _cancel_start(self) -> None:
        if self._starting is not None:
            self._starting.cancel()
            self._starting = None

    def _set_active(self, active: int) -> None:
        if active != self._slots.active:
            self._slots.resize(active)
            self.on_active(active)

    async def infer(self, inputs: dict[str, np.ndarray], compute_factor: float = 1.0) -> TierResult:
        """Run one request; ``compute_factor`` is emulated device time over host time (>= 0). ``ongoing`` counts it
        until it returns (one coroutine, no inner call: this is every request's path)."""
        self.ongoing += 1
        try:
            if self._batcher is not None:
                return await self._batcher.submit(inputs, compute_factor)
            t_arrive = self._perf()
            await self._slots.acquire()
            release_now = True
            try:
                queue_ms = (self._perf() - t_arrive) * 1e3
                if self._pool is None:
                    result = self._run(inputs, compute_factor, queue_ms)
                else:
                    running = asyncio.get_running_loop().run_in_executor(self._pool, self._run, inputs,
                                                                         compute_factor, queue_ms)
                    try:
                        result = await asyncio.shield(running)
                    except asyncio.CancelledError:  # the caller gave up: the slot stays taken until the thread is done
                        release_now = False
                        running.add_done_callback(self._release_after)
                        raise
                extra_ms = result.compute_ms - result.host_ms
                if extra_ms > 0:
                    await self._clock.sleep_s(extra_ms / 1e3)
                return result
            finally:
                if release_now:
                    self._slots.release()
        finally:
            self.ongoing -= 1

    def _release_after(self, done: asyncio.Future) -> None:
        """Free the slot of an abandoned offloaded run once its thread is done (and consume its outcome)."""
        self._slots.release()
        if not done.cancelled():
            done.exception()

    def close(self) -> None:
        """Let the worker threads of an offloaded worker end (a run in progress still completes)."""
        self._cancel_start()
        if self._batcher is not None:
            self._batcher.close()
        if self._pool is not None:
            self._pool.shutdown(wait=False)

    def _run(self, inputs: dict[str, np.ndarray], compute_factor: float, queue_ms: float) -> TierResult:
        t0 = self._perf()
        outputs = self._runner.infer(inputs)
        host_ms = (self._perf() - t0) * 1e3
        return TierResult(outputs, host_ms, host_ms * max(compute_factor, 0.0), queue_ms)
