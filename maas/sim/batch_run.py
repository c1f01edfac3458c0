"""The engine's batching workers: one ``VirtualBatcher`` per replica of each batching (model, tier), and what
happens to a request when its batch starts (``maas.sim.engine``, live queues with ``EngineInput.batching``).

A request dispatched to a batching worker is queued there (``BatchedRequest``) on its arrival at the worker
(gateway overhead + uplink after dispatch). When its batch of n starts at ``T`` (``VirtualBatcher``), the batch runs
``mean device time of its requests x ratio(n)`` (``maas.placement.batching.BatchModel``: the measured batch profile),
every request in it finishes at the batch's end, and each is charged its share as the live worker charges it:
``ratio(n) / n`` of its host time (energy and carbon from the tier models' line at that host time; a batch of 1
costs exactly what an unbatched request does) and ``run / n`` of device time on the tier's ledger. Its latency,
deadline, failure (outage during the run, contact window closed), energy and completion event are then recorded
as the engine records an unbatched request's.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from typing import Any

import numpy as np

from maas.placement import Fault
from maas.placement.batching import BatchModel
from maas.sim.batcher import VirtualBatcher

__all__ = ["BatchedRequest", "BatchedTiers"]


@dataclass(slots=True)
class BatchedRequest:
    """One request queued at a batching worker: what its completion needs."""

    index: int
    placement: Any
    site: str
    tenant: int
    now_s: float
    down_ms: float
    compute_ms: float  # its own device time (with the request's compute noise)
    host_ms: float  # the host time its estimate was made at
    deadline_ms: float | None
    loc: Any
    replica: int


class BatchedTiers:
    """The batching workers of one run and the per-request outputs they fill (the engine's arrays)."""

    def __init__(self, *, epoch_s: float, tier_out: np.ndarray, lat_out: np.ndarray, met_out: np.ndarray,
                 failed_out: np.ndarray, energy_out: np.ndarray, carbon_out: np.ndarray, soc_out: np.ndarray,
                 tenant_energy: list[float], spent_today: list[float] | None, client: list[float] | None,
                 pending: list[tuple], record_request: Any, outages: list[Fault],
                 capacity: dict[str, float | None]) -> None:
        self.epoch_s = epoch_s
        self.tier_out, self.lat_out, self.met_out, self.failed_out = tier_out, lat_out, met_out, failed_out
        self.energy_out, self.carbon_out, self.soc_out = energy_out, carbon_out, soc_out
        self.tenant_energy, self.spent_today, self.client = tenant_energy, spent_today, client
        self.pending, self.record_request, self.outages, self.capacity = pending, record_request, outages, capacity
        self.batchers: list[VirtualBatcher] = []
        self.min_soc: float | None = None
        self.batch_sizes: list[int] = []  # every batch's size, in start order

    def new(self, model: BatchModel, slots: int) -> VirtualBatcher:
        """A batcher for one replica of a batching (model, tier)."""
        batcher = VirtualBatcher(model, slots, lambda items, t_ms: self._start(model, items, t_ms))
        self.batchers.append(batcher)
        return batcher

    def advance(self, t_ms: float) -> None:
        """Start every batch due by ``t_ms`` (call before the completions due by then are taken)."""
        for b in self.batchers:
            if b.waiting:
                b.advance(t_ms)

    def _start(self, model: BatchModel, items: list[BatchedRequest], t_ms: float) -> float:
        n = len(items)
        self.batch_sizes.append(n)
        ratio = model.ratio(n)
        run_ms = sum(r.compute_ms for r in items) / n * ratio
        finish = t_ms + run_ms
        start_s, finish_s = t_ms / 1000.0, finish / 1000.0
        for r in items:
            i, placement = r.index, r.placement
            tier, e = placement.tier, placement.estimate
            latency = finish + r.down_ms - r.now_s * 1000.0
            seen = latency if self.client is None else latency + self.client[i]
            ok = True
            wend = e.window_end_s
            if wend is not None and self.epoch_s + (finish + r.down_ms) / 1000.0 > wend:
                ok = False
            for f in self.outages:
                if f.blocks(tier, r.site, r.now_s, start_s, finish_s):
                    ok = False
                    break
            if n == 1:
                energy, carbon = e.energy_j, e.carbon_g
            else:
                energy, carbon = placement.line.energy_carbon(r.host_ms * ratio / n)
            self.record_request(r.site, tier, start_s=self.epoch_s + start_s, compute_ms=run_ms / n, energy_j=energy)
            cap = self.capacity.get(tier)
            if cap and e.battery_after_j is not None:
                soc = e.battery_after_j / cap
                self.soc_out[i] = soc
                if self.min_soc is None or soc < self.min_soc:
                    self.min_soc = soc
            self.energy_out[i] = energy
            self.carbon_out[i] = carbon
            self.tenant_energy[r.tenant] += energy
            if self.spent_today is not None:
                self.spent_today[r.tenant] += energy
            if ok:
                self.lat_out[i] = seen
                self.met_out[i] = r.deadline_ms is None or seen <= r.deadline_ms
            else:
                self.failed_out[i] = True
            heapq.heappush(self.pending, (r.now_s + latency / 1000.0, i, placement, r.loc, r.replica, latency, energy,
                                          ok))
        return run_ms
