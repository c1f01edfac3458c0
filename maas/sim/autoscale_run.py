"""The engine's autoscaled workers: a (model, tier)'s active compute slots in virtual time, scaled as the live
worker scales them (``maas.api.tier_worker.TierWorker.autoscale``) by the same controller
(``maas.placement.autoscaling.SlotAutoscaler``).

Live queues only (``maas.sim.engine``, ``EngineInput.live_queues``: one worker per (model, tier) shared by every
site, as live), for a tier whose spec has ``autoscaling`` (``EngineInput.autoscaling``, else the world's topology):
1. The worker starts with ``min_slots`` active: its slot heap (the engine's ``_Loc.heaps[0]``, slot free times in
   ms) holds that many entries and the router's queue view (``queue.slots``) counts them.
2. Control ticks at every multiple of ``metrics_interval_s`` of virtual time; the engine runs every tick due by an
   arrival before it routes that arrival (and the ticks up to the run's last completion at its end). At a tick at
   ``T`` the sample is the requests at the worker, waiting for a slot or running: those placed on it that have
   reached it (``arrive <= T``) and not finished computing (``finish > T``), as ``TierWorker.ongoing`` counts them.
3. The target is applied as the live worker applies it. Fewer: at once; the slots removed are the ones that free
   earliest, so the next request waits until fewer than the target are busy (what ``SlotPool.resize`` does: running
   requests finish, nobody new is admitted until busy < active). More: the slots added serve from
   ``T + slot_start_s`` (heap entries free at that time), and the router's view counts them from then on. A further
   rise while slots start joins that start (live: the start sets the latest target when it ends); a fall while they
   start drops the not-yet-started slots first and cancels the start once the target is at most the active count.
4. ``timeline``: (virtual s, active slots) at the start and at every change; ``active_slot_s`` integrates it (what an
   idle-energy ledger would charge per active slot-second; the engine itself charges requests only).

Not modelled: a batching (model, tier) (its ``VirtualBatcher`` keeps all the tier's slots); more than one
replica per (model, tier) (live has one: ``ValueError``); the per-site tier locations of the mode without live
queues (all slots always active). Approximations, as the engine fixes a request's start when it is routed: the
requests already waiting when slots are added keep their later starts, only those routed afterwards use the added
slots (live, the waiters move into them at once, FIFO), so after a burst the sim drains its backlog more slowly;
and a request given a starting slot keeps it if a later fall cancels that start (live it would wait on).
With no ``autoscaling`` on any tier nothing here runs and the engine is bit-identical.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable
from typing import Any

from maas.placement import TierModels
from maas.placement.autoscaling import SlotAutoscaler
from maas.routing.views import TierQueue
from maas.tiers.spec import AutoscalingSpec

__all__ = ["AutoscaledWorker", "SlotScaling", "tier_autoscaling"]

_INF = math.inf


def tier_autoscaling(explicit: dict[str, AutoscalingSpec] | None, world: TierModels,
                     tiers: tuple[str, ...]) -> dict[str, AutoscalingSpec]:
    """Tier -> its autoscaling: ``explicit`` when given (``{}``: none), else the world's topology's tier specs."""
    if explicit is not None:
        return {t: s for t, s in explicit.items() if t in tiers}
    topology = getattr(world, "topology", None)
    specs = getattr(topology, "tiers", None) or {}
    return {t: specs[t].autoscaling for t in tiers if t in specs and specs[t].autoscaling is not None}


class AutoscaledWorker:
    """One autoscaled (model, tier) worker: its slot heap, its queue view and its controller (module steps)."""

    __slots__ = ("heap", "queue", "scaler", "interval_s", "start_s", "tick", "next_tick_s", "due_s", "active",
                 "_finish_s", "_arrive_s", "timeline")

    def __init__(self, spec: AutoscalingSpec, max_slots: int, heap: list[float], queue: TierQueue) -> None:
        self.scaler = SlotAutoscaler(spec, max_slots, 0.0)
        self.active = spec.min_slots
        heap[:] = [0.0] * self.active  # in place: the engine's loc holds this list
        self.heap = heap
        self.queue = queue
        queue.slots = self.active
        self.interval_s = spec.metrics_interval_s
        self.start_s = spec.slot_start_s
        self.tick = 1
        self.next_tick_s = self.interval_s
        self.due_s = _INF  # when the slots being started serve (inf: none starting)
        self._finish_s: list[float] = []  # compute ends of requests placed here (s), those after the last tick
        self._arrive_s: list[float] = []  # arrivals at the worker (s), those after the last tick
        self.timeline: list[tuple[float, int]] = [(0.0, self.active)]

    def admit(self, arrive_ms: float, finish_ms: float) -> None:
        """A request placed here reaches the worker at ``arrive_ms`` and stops computing at ``finish_ms``."""
        heapq.heappush(self._arrive_s, arrive_ms / 1000.0)
        heapq.heappush(self._finish_s, finish_ms / 1000.0)

    def advance(self, until_s: float) -> float:
        """Run every start and tick due by ``until_s`` in time order (a start before a tick at the same time);
        returns the time of the next one."""
        while True:
            if self.due_s <= until_s and self.due_s <= self.next_tick_s:
                self._set_active(len(self.heap), self.due_s)
                self.due_s = _INF
            elif self.next_tick_s <= until_s:
                self._control(self.next_tick_s)
                self.tick += 1
                self.next_tick_s = self.tick * self.interval_s
            else:
                return min(self.due_s, self.next_tick_s)

    def ongoing(self, now_s: float) -> int:
        """Requests at the worker at ``now_s`` (reached it, not finished): forgets what is over by then."""
        fin, arr = self._finish_s, self._arrive_s
        while fin and fin[0] <= now_s:
            heapq.heappop(fin)
        while arr and arr[0] <= now_s:
            heapq.heappop(arr)
        return len(fin) - len(arr)

    def _control(self, now_s: float) -> None:
        self.scaler.observe(now_s, self.ongoing(now_s))
        target = self.scaler.decide(now_s)
        heap, planned = self.heap, len(self.heap)
        if target < planned:
            self._drop(planned - target)
            if target <= self.active:  # live: cancel the start, resize down now
                self.due_s = _INF
                self._set_active(target, now_s)
        elif target > planned:
            if self.due_s == _INF:
                self.due_s = now_s + self.start_s
            due_ms = self.due_s * 1000.0
            for _ in range(target - planned):
                heapq.heappush(heap, due_ms)

    def _drop(self, count: int) -> None:
        """Remove ``count`` slots: those not yet started first, then those that free earliest."""
        heap = self.heap
        if self.due_s != _INF:
            due_ms, kept, dropped = self.due_s * 1000.0, [], 0
            for free in heap:
                if free == due_ms and dropped < count:
                    dropped += 1
                else:
                    kept.append(free)
            heapq.heapify(kept)
            heap[:] = kept
            count -= dropped
        for _ in range(count):
            heapq.heappop(heap)

    def _set_active(self, active: int, now_s: float) -> None:
        if active != self.active:
            self.active = active
            self.queue.slots = active
            self.timeline.append((now_s, active))

    def active_slot_s(self, t0_s: float, t1_s: float) -> float:
        """Active slot-seconds over [t0_s, t1_s] (the last active count holds after the timeline's end)."""
        total = 0.0
        points = self.timeline + [(_INF, 0)]
        for (t, n), (t_next, _) in zip(points, points[1:], strict=False):
            lo, hi = max(t, t0_s), min(t_next, t1_s)
            if hi > lo:
                total += n * (hi - lo)
        return total


class SlotScaling:
    """The autoscaled workers of one run; ``advance(now_s)`` runs what is due, returns the next time anything is."""

    def __init__(self, workers: dict[tuple[int, str], AutoscaledWorker]) -> None:
        self.workers = workers
        self._list = list(workers.values())

    @classmethod
    def build(cls, specs: dict[str, AutoscalingSpec], models: int, world: TierModels,
              loc_for: Callable[[str, int], Any]) -> SlotScaling | None:
        """A worker for every (model, tier) whose tier autoscales (None: none does). ``loc_for(tier, model)`` is
        the engine's loc of the pair (created now); a batching loc stays unscaled."""
        workers: dict[tuple[int, str], AutoscaledWorker] = {}
        for tier, spec in specs.items():
            for mi in range(models):
                loc = loc_for(tier, mi)
                if loc.batchers is not None:
                    continue
                if len(loc.heaps) != 1:
                    raise ValueError(f"autoscaling of {tier} is modelled for one replica per (model, tier), as live")
                loc.scaler = workers[(mi, tier)] = AutoscaledWorker(spec, world.slots(tier), loc.heaps[0],
                                                                    loc.queue)
        return cls(workers) if workers else None

    @property
    def next_s(self) -> float:
        return min((w.due_s if w.due_s < w.next_tick_s else w.next_tick_s) for w in self._list)

    def advance(self, now_s: float) -> float:
        return min(w.advance(now_s) for w in self._list)

    def timelines(self, models: list[str]) -> dict[tuple[str, str], list[tuple[float, int]]]:
        """(model name, tier) -> (virtual s, active slots) at the start and at every change."""
        return {(models[mi], tier): list(w.timeline) for (mi, tier), w in self.workers.items()}
