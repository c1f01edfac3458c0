"""Dynamic batching as placement sees it, for both clocks: what a batch of n costs, and what a request waits.

A tier worker that batches (``maas.api.tier_batcher``) takes a compute slot, then waits for its first queued
request (the head) and for up to ``max_batch_size`` requests or ``max_queue_delay_ms`` after the head arrived, and
runs them as one call that holds the slot for the whole batch's device time. ``BatchModel`` holds one (model,
tier)'s limits and its measured batch profile (host ms of one call at batch sizes 1, 2, 4, ...: the worker's
``batch_profile_ms``, or the batches sim-live measured live) as ratios to batch 1, so a batch of n costs
``ratio(n)`` singles (less than n when batching pays).

The router's queue estimate with batching (``BatchModel.wait_ms``; ``Placer`` applies it to every view whose queue
is a ``BatchQueue`` with a model): with ``in_flight`` requests ahead on ``slots`` slots, they fill ``in_flight //
max_batch_size`` full batches before this request's; past the slots each costs a full batch's run per slot; the
batch this request joins holds ``in_flight % max_batch_size + 1`` requests, and when that is not full it waits up
to ``max_queue_delay_ms`` to fill (overlapping the wait for a slot); it then waits through its whole batch's run,
not only its own share (``compute_ms x (ratio(m) - 1)`` more than its own compute).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from maas.routing.views import TierQueue

__all__ = ["BatchModel", "BatchQueue", "batch_ratios"]


def batch_ratios(profile_ms: Mapping[int, float], largest: int) -> tuple[float, ...]:
    """``(1.0, r2, ..., r_largest)``: host ms of a batch of n over a batch of 1, interpolated linearly between the
    sizes measured in ``profile_ms`` and extrapolated past the largest by its per-row cost. No profile: a batch of
    n costs n singles (nothing measured, nothing saved). Ratios never fall below 1 nor decrease with n."""
    points = sorted((int(n), float(ms)) for n, ms in profile_ms.items() if n >= 1 and ms > 0)
    if not points:
        return tuple(float(n) for n in range(1, largest + 1))
    one = points[0][1] / points[0][0] if points[0][0] != 1 else points[0][1]
    if points[0][0] != 1:
        points.insert(0, (1, one))
    out, prev = [], 1.0
    for n in range(1, largest + 1):
        ms = _interpolate(points, n)
        prev = max(prev, ms / one)
        out.append(prev)
    out[0] = 1.0
    return tuple(out)


def _interpolate(points: list[tuple[int, float]], n: int) -> float:
    for (n0, y0), (n1, y1) in zip(points, points[1:], strict=False):
        if n0 <= n <= n1:
            return y0 + (y1 - y0) * (n - n0) / (n1 - n0)
    last_n, last_ms = points[-1]
    if n <= last_n:
        return points[0][1]
    return last_ms + (n - last_n) * last_ms / last_n  # past the largest measured: its cost per row


class BatchModel:
    """One batching (model, tier): its limits and batch-cost ratios (see the module docstring)."""

    __slots__ = ("max_batch_size", "max_queue_delay_ms", "ratios")

    def __init__(self, max_batch_size: int, max_queue_delay_ms: float, profile_ms: Mapping[int, float] | None = None
                 ) -> None:
        if max_batch_size < 2:
            raise ValueError(f"a batch model needs max_batch_size >= 2 (1 is off), got {max_batch_size}")
        if not max_queue_delay_ms >= 0:
            raise ValueError(f"max_queue_delay_ms must be >= 0, got {max_queue_delay_ms}")
        self.max_batch_size = int(max_batch_size)
        self.max_queue_delay_ms = float(max_queue_delay_ms)
        self.ratios = batch_ratios(profile_ms or {}, self.max_batch_size)

    def __repr__(self) -> str:
        return (f"BatchModel(max_batch_size={self.max_batch_size}, max_queue_delay_ms={self.max_queue_delay_ms}, "
                f"ratios={tuple(round(r, 3) for r in self.ratios)})")

    def ratio(self, n: int) -> float:
        """Host (and device) time of a batch of ``n`` over a batch of 1."""
        return self.ratios[n - 1] if n <= self.max_batch_size else self.ratios[-1] * n / self.max_batch_size

    def run_ms(self, single_ms: float, n: int) -> float:
        """A batch of ``n`` requests that each take ``single_ms`` alone."""
        return single_ms * self.ratio(n)

    def share(self, n: int) -> float:
        """One request's share of a batch of ``n`` in singles (what it is charged: ``ratio(n) / n``)."""
        return self.ratio(n) / n

    def wait_ms(self, in_flight: int, slots: int, compute_ms: float) -> float:
        """Expected queue time of a new request (forming, waiting for a slot, and the rest of its batch's run)."""
        b = self.max_batch_size
        ahead = in_flight // b
        joined = in_flight - ahead * b + 1  # the batch this request joins, counting it
        slot_wait = (ahead - slots + 1) * compute_ms * self.ratios[-1] / slots if ahead >= slots else 0.0
        form = 0.0 if joined >= b else self.max_queue_delay_ms
        return (slot_wait if slot_wait > form else form) + compute_ms * (self.ratios[joined - 1] - 1.0)


@dataclass(slots=True)
class BatchQueue(TierQueue):
    """A ``TierQueue`` of a worker that batches (``batch`` None: it was asked to but does not, e.g. a variant whose
    outputs change with the batch): ``Placer`` replaces the in-flight formula with ``batch.wait_ms``."""

    batch: BatchModel | None = None
