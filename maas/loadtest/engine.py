"""The request engine of one generator process: an open-loop pacer and a closed-loop driver.

Open loop (the default): request ``i`` is due at ``start_s + offsets_s[i]`` whatever happened to earlier ones.
Every due request is dispatched as its own task, which stamps its actual send time as its first action, so
dispatch lateness includes event-loop delay. Two pacers: a dedicated thread that sleeps with nanosleep precision
and wakes the loop (``thread``, used for real runs: event-loop timers have millisecond granularity), and plain
event-loop sleeps (``loop``, which works with any injected ``Clock``, including virtual ones in tests).

Closed loop (``--concurrency N``): N tasks each send, wait for the reply, and send again (optionally paced to a
rate, like a rate-mode tool). There is no intended time: latency is measured from the actual send, which is what
coordinated-omission-prone tools report; reports label it closed-loop.
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass
from typing import Any

from maas.clock import Clock, MonotonicClock
from maas.loadtest.mix import PreparedEntry
from maas.loadtest.recorder import Outcome, Recorder
from maas.loadtest.schedule import Schedule
from maas.loadtest.transport import Transport

__all__ = ["MonotonicClock", "Counters", "run_open_loop", "run_closed_loop"]


@dataclass
class Counters:
    """Live counters a worker reports while it runs."""

    sent: int = 0
    done: int = 0
    errors: int = 0
    abandoned: int = 0

    @property
    def in_flight(self) -> int:
        return self.sent - self.done


async def _one(
    i: int,
    intended_abs_s: float,
    start_s: float,
    entry: PreparedEntry,
    body: bytes,
    transport: Transport,
    recorder: Recorder,
    clock: Clock,
    counters: Counters,
) -> None:
    actual = clock.now_s()
    counters.sent += 1
    outcome = await transport.send(entry, body)
    done = clock.now_s()
    counters.done += 1
    counters.errors += not outcome.ok
    recorder.record(intended_abs_s - start_s, actual - start_s, done - start_s, entry.model, entry.deadline_ms, outcome)


async def _drain(tasks: set[asyncio.Task[Any]], grace_s: float, counters: Counters) -> None:
    if tasks:
        _, pending = await asyncio.wait(set(tasks), timeout=grace_s)
        for task in pending:
            task.cancel()
        counters.abandoned += len(pending)
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)


def _pace_in_thread(
    offsets: list[float],
    start_s: float,
    clock: Clock,
    loop: asyncio.AbstractEventLoop,
    dispatch: Any,
    halt: threading.Event,
) -> None:
    """Pacing thread: sleep (nanosleep precision) until each due time, then wake the loop to dispatch."""
    j, n = 0, len(offsets)
    while j < n and not halt.is_set():
        wait = start_s + offsets[j] - clock.now_s()
        if wait > 0:
            time.sleep(wait)
        loop.call_soon_threadsafe(dispatch)
        now = clock.now_s()
        while j < n and start_s + offsets[j] <= now:
            j += 1


async def run_open_loop(
    schedule: Schedule,
    entries: list[PreparedEntry],
    transport: Transport,
    recorder: Recorder,
    clock: Clock,
    start_s: float,
    stop: asyncio.Event | None = None,
    counters: Counters | None = None,
    spin_s: float = 0.0,
    drain_s: float = 30.0,
    pacer: str = "loop",
) -> Counters:
    """Send every request of ``schedule`` at ``start_s + offset``; wait (up to ``drain_s``) for replies.

    ``pacer="loop"`` sleeps on the event loop (works with any Clock, including virtual ones); ``spin_s`` is how
    long before a due time it stops sleeping and yields instead. ``pacer="thread"`` sleeps in a dedicated
    thread with sub-millisecond precision and wakes the loop (real clocks only). Setting ``stop`` ends
    dispatching early; replies still arrive for up to 2 s, the rest are abandoned."""
    counters = counters or Counters()
    stop = stop or asyncio.Event()
    offsets = schedule.offsets_s.tolist()
    entry_idx = schedule.entry.tolist()
    variant_idx = schedule.variant.tolist()
    tasks: set[asyncio.Task[Any]] = set()
    n = len(offsets)
    pos = [0]
    loop = asyncio.get_running_loop()

    def dispatch_due() -> None:
        i = pos[0]
        now = clock.now_s()
        while i < n and start_s + offsets[i] <= now and not stop.is_set():
            entry = entries[entry_idx[i]]
            task = loop.create_task(
                _one(
                    i,
                    start_s + offsets[i],
                    start_s,
                    entry,
                    entry.bodies[variant_idx[i]],
                    transport,
                    recorder,
                    clock,
                    counters,
                )
            )
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            i += 1
        pos[0] = i

    if pacer == "thread":
        halt = threading.Event()
        thread_done = loop.run_in_executor(None, _pace_in_thread, offsets, start_s, clock, loop, dispatch_due, halt)
        stop_wait = loop.create_task(stop.wait())
        await asyncio.wait({thread_done, stop_wait}, return_when=asyncio.FIRST_COMPLETED)
        halt.set()
        stop_wait.cancel()
        await thread_done
        dispatch_due()
    else:
        while pos[0] < n and not stop.is_set():
            wait = start_s + offsets[pos[0]] - clock.now_s()
            if wait > spin_s:
                await clock.sleep_s(wait - spin_s)
            elif wait > 0:
                await asyncio.sleep(0)
            else:
                dispatch_due()
    await _drain(tasks, 2.0 if stop.is_set() else drain_s, counters)
    return counters


async def run_closed_loop(
    schedule: Schedule,
    entries: list[PreparedEntry],
    transport: Transport,
    recorder: Recorder,
    clock: Clock,
    start_s: float,
    concurrency: int,
    duration_s: float,
    rate_rps: float | None = None,
    stop: asyncio.Event | None = None,
    counters: Counters | None = None,
) -> Counters:
    """``concurrency`` senders, each waiting for its reply, for ``duration_s``; request kinds follow
    ``schedule`` in order (cycling). With ``rate_rps`` each sender also waits for its next slot at
    ``rate_rps / concurrency``. Latency is measured from the actual send."""
    counters = counters or Counters()
    stop = stop or asyncio.Event()
    entry_idx = schedule.entry.tolist() or [0]
    variant_idx = schedule.variant.tolist() or [0]
    end_s = start_s + duration_s
    period_s = concurrency / rate_rps if rate_rps else 0.0

    async def sender(k: int) -> None:
        j, m = k, 0
        while not stop.is_set():
            now = clock.now_s()
            if period_s:
                next_slot = start_s + (k / concurrency + m) * period_s
                if next_slot > now:
                    await clock.sleep_s(next_slot - now)
                    now = clock.now_s()
            if now >= end_s:
                return
            entry = entries[entry_idx[j % len(entry_idx)]]
            body = entry.bodies[variant_idx[j % len(variant_idx)]]
            counters.sent += 1
            outcome: Outcome = await transport.send(entry, body)
            done = clock.now_s()
            counters.done += 1
            counters.errors += not outcome.ok
            recorder.record(now - start_s, now - start_s, done - start_s, entry.model, entry.deadline_ms, outcome)
            j += concurrency
            m += 1

    now = clock.now_s()
    if start_s > now:
        await clock.sleep_s(start_s - now)
    tasks = [asyncio.ensure_future(sender(k)) for k in range(concurrency)]
    await asyncio.gather(*tasks, return_exceptions=True)
    return counters
