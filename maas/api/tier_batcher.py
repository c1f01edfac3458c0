"""Dynamic batching for one ``TierWorker``: queued requests run as one onnxruntime call in one compute slot.

Lifecycle (``TierBatcher``):
1. Built by the worker when its ``BatchPolicy`` is on (``max_batch_size`` > 1) and the variant passed
   ``batch_invariant`` (or the policy allows inexact batching).
2. ``submit(inputs, compute_factor)`` queues a request and awaits its result. One dispatcher task per worker takes a
   compute slot, then the first queued request (the head) and every later one that can be stacked with it (same
   input names, dtypes and non-batch dimensions), until ``max_batch_size`` requests or ``max_queue_delay_ms``
   after the head arrived (waited on the worker's clock). Requests that cannot be stacked with the head stay
   queued, in order, for a later batch.
3. The batch runs as one call (inputs concatenated along axis 0), its outputs are split back by each request's
   rows, and the slot is held for the emulated device time of the whole batch (its host time x the largest
   ``compute_factor`` in it). A batch that fails, or whose outputs cannot be split by rows, is run again request
   by request in the same slot, so each request gets what it would have got alone (its own error included).
4. Each request reports ``queue_ms`` (arrival to the batch's start: forming plus waiting for a slot),
   ``host_ms``/``compute_ms`` = its share of the batch by rows (energy is booked from these, so a batch of n costs
   less than n singles), ``batch_host_ms``/``batch_compute_ms`` = the whole batch's (what it waited through), and
   ``batch_size``.
A caller that gives up cancels only its own future: queued, it is dropped; running, its result is discarded. The
slot belongs to the batch, not to a caller, so nothing leaks. ``close()`` stops the dispatcher.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field

import numpy as np

from maas.clock import Clock
from maas.errors import NotReady
from maas.models import ModelManifest
from maas.models.manifest import numpy_dtype

__all__ = ["BatchPolicy", "TierBatcher", "batch_invariant", "dummy_inputs", "stack_key"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class BatchPolicy:
    """Batching of one (model, tier); ``max_batch_size`` 1 is off (see ``maas.tiers.BatchingSpec``)."""

    max_batch_size: int = 1
    max_queue_delay_ms: float = 0.0
    allow_inexact: bool = False

    def __post_init__(self) -> None:
        if self.max_batch_size < 1:
            raise ValueError(f"max_batch_size must be >= 1, got {self.max_batch_size}")
        if not self.max_queue_delay_ms >= 0:
            raise ValueError(f"max_queue_delay_ms must be >= 0, got {self.max_queue_delay_ms}")

    @property
    def on(self) -> bool:
        return self.max_batch_size > 1


def stack_key(inputs: dict[str, np.ndarray]) -> tuple | None:
    """What must match for two requests to be concatenated along axis 0 (None: this one cannot be stacked)."""
    key = []
    for name in sorted(inputs):
        arr = inputs[name]
        if np.ndim(arr) == 0:
            return None
        key.append((name, np.asarray(arr).dtype.str, np.shape(arr)[1:]))
    return tuple(key)


def _rows(inputs: dict[str, np.ndarray]) -> int:
    return int(np.shape(next(iter(inputs.values())))[0]) if inputs else 0


def dummy_inputs(manifest: ModelManifest, rows: int, seed: int = 0, scale: float = 1.0) -> dict[str, np.ndarray]:
    """``rows`` rows of inputs shaped by the manifest: random numbers in [0, scale), or texts of varied length."""
    rng = np.random.default_rng(seed)
    out: dict[str, np.ndarray] = {}
    for spec in manifest.inputs:
        shape = [rows if i == 0 and dim == -1 else (4 if dim == -1 else dim) for i, dim in enumerate(spec.shape)]
        if spec.datatype == "BYTES":
            words = int(1 + 12 * scale)
            texts = [(" ".join(["edge inference"] * (1 + (i * 7 + seed) % words))).encode() for i in range(int(np.prod(shape)))]
            out[spec.name] = np.array(texts, dtype=object).reshape(shape)
        elif spec.datatype == "BOOL":
            out[spec.name] = rng.random(shape) < 0.5
        else:
            out[spec.name] = (rng.random(shape) * scale * 8).astype(numpy_dtype(spec.datatype))
    return out


def batch_invariant(run: Callable[[dict], dict], manifest: ModelManifest) -> bool:
    """Whether a request's outputs stay the same when another request is batched with it (fp32: yes; dynamic int8
    quantisation: no, one activation scale per batch). Probes a small row alone and beside a larger one."""
    small, large = dummy_inputs(manifest, 1, seed=1, scale=0.1), dummy_inputs(manifest, 1, seed=2, scale=2.0)
    alone = run(small)
    both = run({k: np.concatenate([small[k], large[k]], axis=0) for k in small})
    for name, value in alone.items():
        got = both[name]
        if np.ndim(got) == 0 or np.shape(got)[0] != 2:
            return False
        if np.issubdtype(value.dtype, np.floating):
            if not np.allclose(got[:1], value, rtol=1e-4, atol=1e-5):
                return False
        elif not np.array_equal(got[:1], value):
            return False
    return True


@dataclass(slots=True, eq=False)
class _Pending:
    inputs: dict[str, np.ndarray]
    factor: float
    key: tuple | None
    rows: int
    t_arrive: float  # perf counter
    arrive_s: float  # the worker's clock
    future: asyncio.Future = field(repr=False)


class TierBatcher:
    """The queue and dispatcher of one batching worker (lifecycle in the module docstring)."""

    def __init__(self, run: Callable[[dict], dict], policy: BatchPolicy, slots, clock: Clock,
                 perf: Callable[[], float], pool: Executor | None, make_result: Callable[..., object]) -> None:
        self._run = run
        self.policy = policy
        self._slots = slots
        self._clock = clock
        self._perf = perf
        self._pool = pool
        self._make_result = make_result
        self._queue: deque[_Pending] = deque()
        self._arrived: asyncio.Event | None = None
        self._dispatcher: asyncio.Task | None = None
        self._batches: set[asyncio.Task] = set()

    async def submit(self, inputs: dict[str, np.ndarray], compute_factor: float):
        loop = asyncio.get_running_loop()
        if self._dispatcher is None or self._dispatcher.done() or self._dispatcher.get_loop() is not loop:
            self._queue.clear()
            self._arrived = asyncio.Event()
            self._dispatcher = loop.create_task(self._dispatch())
            self._dispatcher.add_done_callback(self._dispatcher_ended)
        key = stack_key(inputs)
        pending = _Pending(inputs, compute_factor, key, _rows(inputs) if key is not None else 0, self._perf(),
                           self._clock.now_s(), loop.create_future())
        self._queue.append(pending)
        self._arrived.set()
        return await pending.future

    def queued(self) -> int:
        """Requests waiting for a batch (cancelled ones not yet dropped included)."""
        return len(self._queue)

    def close(self) -> None:
        if self._dispatcher is not None:
            self._dispatcher.cancel()

    # -- the dispatcher ------------------------------------------------------------------------------------------
    def _dispatcher_ended(self, task: asyncio.Task) -> None:
        error = None if task.cancelled() else task.exception()
        if error is not None:
            log.error("tier batcher failed", exc_info=error)
        while self._queue:
            pending = self._queue.popleft()
            if not pending.future.done():
                pending.future.set_exception(error or NotReady("the tier worker's batcher stopped"))

    async def _dispatch(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._slots.acquire()
            try:
                batch = await self._collect()
            except BaseException:
                self._slots.release()
                raise
            task = loop.create_task(self._run_batch(batch))
            self._batches.add(task)
            task.add_done_callback(self._batches.discard)

    async def _collect(self) -> list[_Pending]:
        """The next batch (never empty): the head and what stacks with it, by the size and delay limits."""
        limit = self.policy.max_batch_size
        while True:
            while self._queue and self._queue[0].future.done():  # cancelled while queued
                self._queue.popleft()
            if not self._queue:
                self._arrived.clear()
                await self._arrived.wait()  # idle: nothing queued
                continue
            head = self._queue[0]
            deadline_s = head.arrive_s + self.policy.max_queue_delay_ms / 1e3
            while head.key is not None and not head.future.done():
                ready = sum(1 for p in self._queue if p.key == head.key and not p.future.done())
                remaining_s = deadline_s - self._clock.now_s()
                if ready >= limit or remaining_s <= 0:
                    break
                await self._wait_arrival(remaining_s)
            batch = self._take(head, limit)
            if batch:
                return batch

    def _take(self, head: _Pending, limit: int) -> list[_Pending]:
        batch, kept = [], deque()
        for pending in self._queue:
            if pending.future.done():
                continue
            if len(batch) < limit and (pending is head or (head.key is not None and pending.key == head.key)):
                batch.append(pending)
            else:
                kept.append(pending)
        self._queue = kept
        return batch

    async def _wait_arrival(self, timeout_s: float) -> None:
        """Until another request is queued or ``timeout_s`` of the clock has passed."""
        self._arrived.clear()
        loop = asyncio.get_running_loop()
        arrival = loop.create_task(self._arrived.wait())
        timer = loop.create_task(self._clock.sleep_s(timeout_s))
        try:
            await asyncio.wait({arrival, timer}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            arrival.cancel()
            timer.cancel()

    # -- one batch -----------------------------------------------------------------------------------------------
    async def _run_batch(self, batch: list[_Pending]) -> None:
        """Run ``batch`` in the slot the dispatcher took, hold it for the device time, deliver, release."""
        try:
            t_start = self._perf()
            live = [p for p in batch if not p.future.done()]
            if not live:
                return
            if self._pool is None:
                outcomes, host_ms = self._compute(live)
            else:
                running = asyncio.get_running_loop().run_in_executor(self._pool, self._compute, live)
                outcomes, host_ms = await asyncio.shield(running)
            factor = max(max(p.factor for p in live), 0.0)
            device_ms = host_ms * factor
            if device_ms > host_ms:
                await self._clock.sleep_s((device_ms - host_ms) / 1e3)
            for pending, (outputs, share_ms) in zip(live, outcomes, strict=True):
                if pending.future.done():  # its caller gave up
                    continue
                if isinstance(outputs, BaseException):
                    pending.future.set_exception(outputs)
                    continue
                pending.future.set_result(self._make_result(
                    outputs, share_ms, share_ms * factor, (t_start - pending.t_arrive) * 1e3, batch_size=len(live),
                    batch_host_ms=host_ms, batch_compute_ms=device_ms))
        finally:
            self._slots.release()
            for pending in batch:
                if not pending.future.done():
                    pending.future.set_exception(NotReady("the tier worker stopped before this request ran"))

    def _compute(self, batch: list[_Pending]) -> tuple[list[tuple[object, float]], float]:
        """(each request's outputs or error with its host-ms share, the batch's host ms); runs in any thread."""
        if len(batch) > 1:
            stacked = {name: np.concatenate([p.inputs[name] for p in batch], axis=0) for name in batch[0].inputs}
            total = sum(p.rows for p in batch)
            t0 = self._perf()
            try:
                outputs = self._run(stacked)
            except Exception:  # one bad request: run them one by one so only it fails
                outputs = None
            host_ms = (self._perf() - t0) * 1e3
            if outputs is not None and all(np.ndim(v) >= 1 and np.shape(v)[0] == total for v in outputs.values()):
                shares, start = [], 0
                for p in batch:
                    part = {k: v[start:start + p.rows] for k, v in outputs.items()}
                    start += p.rows
                    shares.append((part, host_ms * (p.rows / total if total else 1 / len(batch))))
                return shares, host_ms
        outcomes, spent = [], 0.0
        for p in batch:
            t0 = self._perf()
            try:
                got: object = self._run(p.inputs)
            except Exception as exc:
                got = exc
            took = (self._perf() - t0) * 1e3
            spent += took
            outcomes.append((got, took))
        return outcomes, spent
