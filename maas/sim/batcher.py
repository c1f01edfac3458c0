"""The tier worker's dynamic batcher (``maas.api.tier_batcher.TierBatcher``) in virtual time, for the engine.

One ``VirtualBatcher`` per batching (model, tier) deployment (``EngineInput.batching``, live queues). The worker's
dispatcher, step by step, on the virtual clock (ms):
1. It takes a compute slot (the earliest free one, never before it started its previous batch).
2. It waits for a queued request (the head: the earliest arrival at the worker not yet in a batch), then for
   ``max_batch_size`` queued requests or ``max_queue_delay_ms`` after the head arrived, whichever is first: the
   batch starts at ``T = max(slot, head arrival, min(head arrival + delay, arrival of the max_batch_size-th))``
   with every queued request that arrived by ``T``, in arrival order, up to ``max_batch_size``.
3. The batch holds its slot for its run (``start(items, T)`` returns it: the batch profile's time).
Arrivals at the worker (gateway overhead + uplink after dispatch) are not in dispatch order, so they are kept
sorted. A batch is decided only once the engine's clock has reached ``T`` (``advance``): every arrival at or
before ``T`` is known by then, because a request reaches the worker after it is dispatched. A request that
reaches the worker at the very instant it is dispatched (no overhead, no uplink) joins no batch that starts then.
"""

from __future__ import annotations

import heapq
from bisect import insort
from collections.abc import Callable

from maas.placement.batching import BatchModel

__all__ = ["VirtualBatcher"]


class VirtualBatcher:
    """The queue and dispatcher of one batching worker (steps in the module docstring)."""

    __slots__ = ("model", "slots_free_ms", "dispatcher_ms", "waiting", "start", "batches")

    def __init__(self, model: BatchModel, slots: int, start: Callable[[list, float], float]) -> None:
        if slots < 1:
            raise ValueError(f"slots must be >= 1, got {slots}")
        self.model = model
        self.slots_free_ms = [0.0] * slots  # a heap: when each slot is next free
        self.dispatcher_ms = 0.0  # when the dispatcher started its last batch
        self.waiting: list[tuple[float, int, object]] = []  # (arrival ms, sequence, item), sorted
        self.start = start  # (items, start ms) -> the batch's run ms; called once per batch, in time order
        self.batches = 0

    def add(self, arrive_ms: float, seq: int, item: object) -> None:
        """A request reaches the worker at ``arrive_ms`` (``seq`` breaks ties: the engine's request index)."""
        insort(self.waiting, (arrive_ms, seq, item))

    def next_start_ms(self) -> float | None:
        """When the next batch starts given the arrivals known now (None: nothing queued)."""
        waiting = self.waiting
        if not waiting:
            return None
        slot = self.slots_free_ms[0]
        if slot < self.dispatcher_ms:
            slot = self.dispatcher_ms
        head = waiting[0][0]
        now = slot if slot > head else head
        full = head + self.model.max_queue_delay_ms
        b = self.model.max_batch_size
        if len(waiting) >= b and waiting[b - 1][0] < full:
            full = waiting[b - 1][0]
        return full if full > now else now

    def advance(self, t_ms: float) -> None:
        """Start every batch due at or before ``t_ms`` (the caller knows every arrival up to ``t_ms``)."""
        while self.waiting:
            start_ms = self.next_start_ms()
            if start_ms is None or start_ms > t_ms:
                return
            waiting, b = self.waiting, self.model.max_batch_size
            n = 0
            while n < len(waiting) and n < b and waiting[n][0] <= start_ms:
                n += 1
            items = [w[2] for w in waiting[:n]]
            del waiting[:n]
            run_ms = self.start(items, start_ms)
            heapq.heapreplace(self.slots_free_ms, start_ms + run_ms)
            self.dispatcher_ms = start_ms
            self.batches += 1
