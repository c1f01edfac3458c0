"""views_from_estimates: queue wait, power-of-two choices, windows and batteries."""

from __future__ import annotations

import random
from types import SimpleNamespace

import pytest

from maas.routing import TierQueue, pick_replica, queue_wait_ms, views_from_estimates


def est(**kw):
    base = dict(available=True, reason=None, uplink_ms=2.0, downlink_ms=3.0, compute_ms=10.0, energy_j=1.0,
                carbon_g=0.1, network_p99_ms=12.0, window_end_s=None, battery_after_j=None, battery_reserve_j=None)
    base.update(kw)
    return SimpleNamespace(**base)


def test_queue_wait() -> None:
    assert queue_wait_ms(0, 2, 10.0) == 0.0
    assert queue_wait_ms(1, 2, 10.0) == 0.0
    assert queue_wait_ms(2, 2, 10.0) == pytest.approx(5.0)
    assert queue_wait_ms(5, 1, 10.0) == pytest.approx(50.0)


def test_power_of_two_picks_the_less_loaded_of_two_samples() -> None:
    loads = [9, 0, 9, 9]
    rng = random.Random(1)
    picks = [pick_replica(loads, rng) for _ in range(400)]
    # replica 1 wins whenever sampled: P = 1 - (3/4)(2/3) = 1/2
    assert 0.4 < picks.count(1) / len(picks) < 0.6
    assert all(loads[p] <= 9 for p in picks)
    assert pick_replica([3], rng) == 0
    # two replicas: always the less loaded
    assert {pick_replica([5, 1], rng) for _ in range(50)} == {1}


def test_views_carry_estimates_queue_window_and_battery() -> None:
    estimates = {
        "edge": est(),
        "sat": est(window_end_s=100.5, battery_after_j=20.0, battery_reserve_j=15.0),
        "down": est(available=False, reason="outage"),
    }
    queues = {"edge": TierQueue(in_flight=[3, 3], slots=1, service_ms=None)}
    views = views_from_estimates(estimates, queues, now_s=100.0, platform_ms=1.5, kinds={"edge": "base-station"},
                                 rng=random.Random(0))
    by = {v.tier: v for v in views}
    assert [v.tier for v in views] == ["edge", "sat", "down"]
    assert by["edge"].queue_ms == pytest.approx(30.0) and by["edge"].in_flight == 3
    assert by["edge"].latency_ms == pytest.approx(2 + 3 + 30 + 10 + 1.5)
    assert by["edge"].kind == "base-station" and by["edge"].network_p99_ms == 12.0
    assert by["sat"].window_left_ms == pytest.approx(500.0)
    assert by["sat"].battery_after_j == 20.0 and by["sat"].battery_reserve_j == 15.0
    assert by["sat"].queue_ms == 0.0 and by["sat"].slots == 1
    assert by["down"].available is False and by["down"].reason == "outage"
