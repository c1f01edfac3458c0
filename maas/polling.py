"""Wait for a condition by polling it: the one place the platform waits on the outside world (readiness of a
server, deployments, processes). Nothing waits a fixed time for an event."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

__all__ = ["poll_until", "PollTimeout"]

T = TypeVar("T")


class PollTimeout(TimeoutError):
    """The condition did not hold within the time allowed; ``last`` is the last value seen."""

    def __init__(self, what: str, timeout_s: float, last: object = None) -> None:
        super().__init__(f"timed out after {timeout_s:.0f} s waiting for {what}")
        self.last = last


def poll_until(
    predicate: Callable[[], T],
    *,
    timeout_s: float,
    what: str,
    interval_s: float = 0.25,
    monotonic: Callable[[], float] = time.monotonic,
    pause: Callable[[float], None] = time.sleep,
) -> T:
    """Call ``predicate`` until it returns something truthy, pausing ``interval_s`` between calls; return it."""
    deadline = monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if monotonic() >= deadline:
            raise PollTimeout(what, timeout_s, value)
        pause(interval_s)
