"""Injected time. Every component that needs time takes a ``Clock``; nothing else reads the system clock.

``WallClock`` is used in the live serving path; ``ManualClock`` in unit tests and anywhere virtual time is
advanced by hand; ``VirtualClock`` is the simulator's, set by its discrete-event loop; ``MonotonicClock`` is the
load generator's (``time.perf_counter`` based: intervals, not dates).
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol, runtime_checkable

__all__ = ["Clock", "WallClock", "ManualClock", "VirtualClock", "MonotonicClock"]


@runtime_checkable
class Clock(Protocol):
    def now_s(self) -> float:
        """Seconds since the UNIX epoch (UTC). Monotonic for ``ManualClock`` and simulators."""
        ...

    async def sleep_s(self, seconds: float) -> None:
        """Wait ``seconds`` of this clock's time (returns at once for ``seconds <= 0``)."""
        ...


class WallClock:
    """Real time: ``time.time()`` and ``asyncio.sleep``."""

    def now_s(self) -> float:
        return time.time()

    async def sleep_s(self, seconds: float) -> None:
        if seconds > 0:
            await asyncio.sleep(seconds)


class ManualClock:
    """Virtual time advanced explicitly; ``sleep_s`` advances it instead of waiting."""

    def __init__(self, start_s: float = 0.0) -> None:
        self._now_s = float(start_s)
        self.slept_s: list[float] = []

    def now_s(self) -> float:
        return self._now_s

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("time cannot go backwards")
        self._now_s += seconds

    async def sleep_s(self, seconds: float) -> None:
        if seconds > 0:
            self.slept_s.append(seconds)
            self._now_s += seconds


class VirtualClock:
    """The simulator's clock: ``now_s = epoch_s + t_s``, where ``t_s`` (scenario seconds) is set by its loop."""

    __slots__ = ("epoch_s", "t_s")

    def __init__(self, epoch_s: float) -> None:
        self.epoch_s = epoch_s
        self.t_s = 0.0

    def now_s(self) -> float:
        return self.epoch_s + self.t_s

    async def sleep_s(self, seconds: float) -> None:  # pragma: no cover - the engine never sleeps
        raise RuntimeError("VirtualClock is driven by the simulation, not slept on")


class MonotonicClock:
    """Wall-clock epoch seconds that never step: ``time.perf_counter`` anchored to ``time.time`` once."""

    def __init__(self) -> None:
        self._offset_s = time.time() - time.perf_counter()

    def now_s(self) -> float:
        return self._offset_s + time.perf_counter()

    async def sleep_s(self, seconds: float) -> None:
        if seconds > 0:
            await asyncio.sleep(seconds)
