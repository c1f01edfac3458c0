"""A worker's compute slots as a semaphore whose size can change while requests wait (autoscaling).

``asyncio.Semaphore`` has a fixed size. ``SlotPool`` keeps ``active`` slots, ``busy`` of them taken and a FIFO of
waiters: ``resize(n)`` wakes waiters into new slots at once; going down, running requests finish and no waiter is
let in until fewer than ``active`` are busy. A waiter cancelled after it was handed a slot gives it back.
"""

from __future__ import annotations

import asyncio
from collections import deque

__all__ = ["SlotPool"]


class SlotPool:
    """``acquire``/``release`` like ``asyncio.Semaphore``, plus ``resize``, ``busy`` and ``waiting``."""

    def __init__(self, active: int) -> None:
        if active < 1:
            raise ValueError(f"active slots must be >= 1, got {active}")
        self.active = active
        self.busy = 0
        self._waiters: deque[asyncio.Future] = deque()

    @property
    def waiting(self) -> int:
        """Requests waiting for a slot."""
        return len(self._waiters)

    def locked(self) -> bool:
        """No slot free now (as ``asyncio.Semaphore.locked``)."""
        return self.busy >= self.active or bool(self._waiters)

    async def acquire(self) -> None:
        if self.busy < self.active and not self._waiters:
            self.busy += 1
            return
        granted = asyncio.get_running_loop().create_future()
        self._waiters.append(granted)
        try:
            await granted
        except asyncio.CancelledError:
            if granted.done() and not granted.cancelled():  # handed a slot it will not use: pass it on
                self.release()
            else:
                self._waiters.remove(granted)
            raise

    def release(self) -> None:
        self.busy -= 1
        self._wake()

    def resize(self, active: int) -> None:
        """Make ``active`` slots available (>= 1); waiters move into added slots now."""
        if active < 1:
            raise ValueError(f"active slots must be >= 1, got {active}")
        self.active = active
        self._wake()

    def _wake(self) -> None:
        while self._waiters and self.busy < self.active:
            waiter = self._waiters.popleft()
            if not waiter.done():
                self.busy += 1
                waiter.set_result(None)
