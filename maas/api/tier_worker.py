"""One model on one tier: an onnxruntime runner behind the tier's compute slots, with emulated device speed.

Transport-free: the Ray tier deployment (maas.serving.tier_deployment) and the in-process ``LocalBackend`` both
wrap a ``TierWorker``, so the emulation is the same with and without a cluster.

Lifecycle:
1. Built once per replica from a model manifest, the variant the tier serves (fp32 or int8) and the tier's slots.
2. ``infer`` waits for a free slot (that wait is ``queue_ms``), runs onnxruntime on the host (``host_ms``), then
   holds the slot for the extra time the emulated device would need (``compute_factor`` x host time).
3. Results carry the measured parts so the gateway can report them and the router can learn from them.

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

from maas.clock import Clock
from maas.models import ModelManifest, ModelRunner

__all__ = ["TierResult", "TierWorker"]


@dataclass(slots=True)
class TierResult:
    """Outputs of one inference and how long each part took on the tier."""

    outputs: dict[str, np.ndarray]
    host_ms: float  # onnxruntime time on this host
    compute_ms: float  # emulated device time (host_ms x compute_factor)
    queue_ms: float  # waiting for a compute slot


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
    ) -> None:
        self.tier = tier
        self.variant = variant
        self.model = manifest.name
        if slots < 1:
            raise ValueError(f"tier {tier}: slots must be >= 1, got {slots}")
        self._runner = runner or ModelRunner(manifest, models_dir, variant=variant, intra_op_threads=ort_threads)
        self._slots = asyncio.Semaphore(slots)
        self._clock = clock
        self._perf = perf_counter
        self.warmup_ms = self._warmup_ms()
        # text models' cost grows with the tokens sent, which a batch-1 warm-up does not show: always off the loop
        self.offloaded = offload_above_ms is not None and (
            self.warmup_ms > offload_above_ms or manifest.preprocessing is not None)
        self._pool = ThreadPoolExecutor(slots, thread_name_prefix=f"tier-{tier}") if self.offloaded else None

    def _warmup_ms(self, runs: int = 3) -> float:
        """The fastest of a few warm-up inferences (the first pays for lazy initialisation)."""
        best = float("inf")
        for _ in range(runs):
            t0 = self._perf()
            self._runner.warmup()
            best = min(best, (self._perf() - t0) * 1e3)
        return best

    async def infer(self, inputs: dict[str, np.ndarray], compute_factor: float = 1.0) -> TierResult:
        """Run one request; ``compute_factor`` is emulated device time over host time (>= 0)."""
        t_arrive = self._perf()
        await self._slots.acquire()
        release_now = True
        try:
            queue_ms = (self._perf() - t_arrive) * 1e3
            if self._pool is None:
                result = self._run(inputs, compute_factor, queue_ms)
            else:
                running = asyncio.get_running_loop().run_in_executor(self._pool, self._run, inputs, compute_factor,
                                                                     queue_ms)
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

    def _release_after(self, done: asyncio.Future) -> None:
        """Free the slot of an abandoned offloaded run once its thread is done (and consume its outcome)."""
        self._slots.release()
        if not done.cancelled():
            done.exception()

    def close(self) -> None:
        """Let the worker threads of an offloaded worker end (a run in progress still completes)."""
        if self._pool is not None:
            self._pool.shutdown(wait=False)

    def _run(self, inputs: dict[str, np.ndarray], compute_factor: float, queue_ms: float) -> TierResult:
        t0 = self._perf()
        outputs = self._runner.infer(inputs)
        host_ms = (self._perf() - t0) * 1e3
        return TierResult(outputs, host_ms, host_ms * max(compute_factor, 0.0), queue_ms)
