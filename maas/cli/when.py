"""``--at``: the moment a command looks at. It defaults to now (the wall clock), never to a topology's epoch."""

from __future__ import annotations

import datetime as dt

from maas.cli.common import EXIT_USAGE, fail
from maas.clock import Clock, WallClock

__all__ = ["clock", "moment_s"]


def clock() -> Clock:
    """The CLI's clock (tests replace this function to fix "now")."""
    return WallClock()


def moment_s(value: str | None, option: str = "--at") -> float:
    """``value`` (ISO-8601, UTC unless it names a zone) as UNIX seconds; ``None`` means now."""
    if value is None:
        return clock().now_s()
    try:
        t = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise fail(f"{option}: not an ISO-8601 time: {value!r} (allowed: e.g. 2026-11-21T09:00:00Z)",
                   EXIT_USAGE) from None
    return (t if t.tzinfo else t.replace(tzinfo=dt.UTC)).timestamp()
