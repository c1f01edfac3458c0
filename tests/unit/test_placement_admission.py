"""Admission in the placement core: a request no tier is expected to serve within its deadline, queues included,
is refused at once (with when to retry) instead of being served late; lower priorities go first; pins and
requests without deadlines are never shed."""

from __future__ import annotations

import pytest

from maas.placement import NoPlacement, Placer
from maas.placement.placer import shed_threshold
from maas.routing import RouteRequest, TierQueue, build_policy
from maas.sim.world import TableTier, TableWorld

EDGE = TableTier("edge", "base-station", uplink_ms=2.0, downlink_ms=3.0, slowdown=1.0, power_w=10.0, slots=1)
HOST = (10.0,)  # 2 + 10 + 3 + 1 (platform) = 16 ms on an idle edge


def _place(in_flight: int, deadline_ms: float | None, priority: int = 5, pinned: str | None = None):
    placer = Placer(TableWorld([EDGE]), build_policy("edge-aware"), refresh_s=0.0, shed_factor=1.25)
    queues = {"edge": TierQueue(in_flight=[in_flight], slots=1)}
    req = RouteRequest(model="m", site="s", deadline_ms=deadline_ms, priority=priority, pinned_tier=pinned)
    return placer.place(req, ("edge",), HOST, queues, now_s=0.0, key="k", platform_ms=1.0)


def test_thresholds_by_priority() -> None:
    assert shed_threshold(1.25, 9) == shed_threshold(1.25, 5) == 1.25
    assert shed_threshold(1.25, 0) == pytest.approx(1.25 * 0.75)


def test_served_while_the_queue_allows_the_deadline_refused_beyond() -> None:
    # each request ahead adds 10 ms: 3 ahead -> 46 ms expected; the 40 ms deadline x 1.25 = 50 ms still holds
    assert not isinstance(_place(3, 40.0), NoPlacement)
    shed = _place(4, 40.0)  # 56 ms > 50 ms: refused at once
    assert isinstance(shed, NoPlacement) and shed.shed and not shed.strict
    assert "overloaded" in shed.reason and "deadline of 40 ms" in shed.reason
    assert shed.retry_after_s >= 1.0


def test_background_requests_are_shed_first() -> None:
    assert not isinstance(_place(3, 40.0, priority=5), NoPlacement)
    assert isinstance(_place(3, 40.0, priority=0), NoPlacement)  # 46 ms > 40 x 1.25 x 0.75 = 37.5 ms


def test_pins_and_requests_without_a_deadline_are_never_shed() -> None:
    assert not isinstance(_place(50, None), NoPlacement)
    assert not isinstance(_place(50, 40.0, pinned="edge"), NoPlacement)
