"""The main policy on hand-built views: objectives, chance constraint, correction, queues, satellites, budgets."""

from __future__ import annotations

import math
from statistics import NormalDist

import pytest

from maas.routing import EdgeAwarePolicy, Observation, RouteRequest, TierView, build_policy


def view(tier: str, *, up: float = 5.0, down: float = 5.0, compute: float = 10.0, energy: float = 1.0,
         carbon: float = 0.0, queue: float = 0.0, **kw) -> TierView:
    return TierView(tier=tier, available=kw.pop("available", True), uplink_ms=up, downlink_ms=down, queue_ms=queue,
                    compute_ms=compute, energy_j=energy, carbon_g=carbon, **kw)


def req(objective: str = "latency", deadline: float | None = None, **kw) -> RouteRequest:
    return RouteRequest(model="m", site="s", objective=objective, deadline_ms=deadline, **kw)


def test_latency_objective_orders_by_expected_latency() -> None:
    views = [view("slow", compute=30), view("fast", compute=5), view("mid", compute=10)]
    assert EdgeAwarePolicy().choose(req("latency"), views) == ["fast", "mid", "slow"]


def test_energy_objective_least_energy_subject_to_deadline() -> None:
    views = [
        view("cheap-late", compute=40, energy=0.1),  # 50 ms > 30 ms deadline
        view("cheap", compute=15, energy=0.5),  # 25 ms
        view("dear", compute=2, energy=2.0),  # 12 ms
    ]
    policy = EdgeAwarePolicy()
    assert policy.choose(req("energy", 30), views) == ["cheap", "dear", "cheap-late"]
    d = policy.decide(req("energy", 30), views)
    assert d.feasible and "cheap-late" in d.reasons and "cheap" not in d.reasons


def test_carbon_objective_uses_carbon_not_energy() -> None:
    views = [view("coal", energy=0.1, carbon=5.0), view("solar", energy=1.0, carbon=0.0)]
    assert EdgeAwarePolicy().choose(req("carbon", 100), views)[0] == "solar"
    assert EdgeAwarePolicy().choose(req("energy", 100), views)[0] == "coal"


def test_balanced_trades_latency_against_energy() -> None:
    views = [view("fast-dear", compute=1, energy=10.0), view("slow-cheap", compute=40, energy=1.0)]
    # weight 1: latency only; weight 0: energy only
    assert EdgeAwarePolicy(balanced_weight=1.0).choose(req("balanced", 100), views)[0] == "fast-dear"
    assert EdgeAwarePolicy(balanced_weight=0.0).choose(req("balanced", 100), views)[0] == "slow-cheap"


def test_chance_constraint_uses_lognormal_network_tail() -> None:
    # network median 10 ms, p99 40 ms; compute 10 ms; deadline 35 ms. Mean-based check would pass (20 ms).
    v = view("wide", up=5, down=5, compute=10, network_p99_ms=40.0)
    sure = view("sure", up=10, down=10, compute=12, network_p99_ms=20.0)  # q99 = 20 + 12 = 32 ms
    strict_policy = EdgeAwarePolicy(epsilon=0.01)
    assert strict_policy.choose(req("latency", 35), [v, sure]) == ["sure", "wide"]
    # epsilon 0.3: quantile = 10 * 4 ** (z(0.7)/z(0.99)) + 10
    q = 10 * 4 ** (NormalDist().inv_cdf(0.7) / NormalDist().inv_cdf(0.99)) + 10
    assert q < 35
    assert EdgeAwarePolicy(epsilon=0.3).choose(req("latency", 35), [v, sure]) == ["wide", "sure"]
    # a per-request epsilon overrides the policy's
    assert strict_policy.choose(req("latency", 35, epsilon=0.3), [v, sure]) == ["wide", "sure"]


def test_online_correction_moves_traffic_when_a_tier_is_slower_than_modelled() -> None:
    views = [view("a", compute=10), view("b", compute=14)]
    policy = EdgeAwarePolicy()
    assert policy.choose(req("latency"), views)[0] == "a"
    for _ in range(50):  # "a" really takes twice its estimate
        policy.observe(Observation(req(), "a", estimated_ms=20.0, observed_ms=40.0))
    assert policy.corrector.ratio("s", "a", "m") == pytest.approx(2.0)
    assert policy.choose(req("latency"), views)[0] == "b"
    # and the corrected latency now breaks a deadline it used to meet
    assert policy.decide(req("latency", 30), [views[0]]).feasible is False


def test_a_tier_shut_out_by_early_bad_luck_is_tried_again_once_the_evidence_fades() -> None:
    views = [view("a", compute=10), view("b", compute=14)]
    policy = EdgeAwarePolicy(correction_fade_s=10.0)
    for k in range(30):  # a burst of cold starts on "a" at t = 0..3 s: it looks three times slower
        policy.observe(Observation(req(), "a", estimated_ms=20.0, observed_ms=60.0, at_s=k * 0.1))
    assert policy.choose(req("latency"), views)[0] == "b"
    t = 3.0
    while policy.choose(req("latency"), views)[0] == "b" and t < 120.0:  # "b" carries all traffic, as it is
        t += 0.5
        policy.observe(Observation(req(), "b", estimated_ms=24.0, observed_ms=24.0, at_s=t))
    # 10 s of grace, then (3 - 1) e^(-(age - 10)/10) < 0.2 (20 ms x ratio beats 24 ms): back after ~33 s
    assert 30.0 < t - 2.9 < 36.0
    frozen = EdgeAwarePolicy(correction_fade_s=None)
    for k in range(30):
        frozen.observe(Observation(req(), "a", estimated_ms=20.0, observed_ms=60.0, at_s=k * 0.1))
    for k in range(200):
        frozen.observe(Observation(req(), "b", estimated_ms=24.0, observed_ms=24.0, at_s=3.0 + k))
    assert frozen.choose(req("latency"), views)[0] == "b"


def test_correction_can_be_switched_off() -> None:
    policy = EdgeAwarePolicy(correction=False)
    for _ in range(10):
        policy.observe(Observation(req(), "a", estimated_ms=20.0, observed_ms=80.0))
    assert policy.choose(req("latency"), [view("a", compute=10), view("b", compute=14)])[0] == "a"


def test_queue_wait_makes_a_fast_tier_infeasible() -> None:
    views = [view("edge", compute=5, queue=40, energy=0.1), view("dc", up=10, down=10, compute=5, energy=1.0)]
    assert EdgeAwarePolicy().choose(req("energy", 30), views) == ["dc", "edge"]


def test_satellite_window_and_battery_reserve() -> None:
    sat = view("sat", compute=10, energy=0.01, window_left_ms=15.0)  # needs 20 ms
    ground = view("ground", compute=10, energy=1.0)
    assert EdgeAwarePolicy().choose(req("energy", 100), [sat, ground]) == ["ground", "sat"]
    sat2 = view("sat", compute=10, energy=0.01, battery_after_j=10.0, battery_reserve_j=15.0)
    d = EdgeAwarePolicy().decide(req("energy", 100), [sat2, ground])
    assert d.ranking == ["ground", "sat"] and "reserve" in d.reasons["sat"]
    ok = view("sat", compute=10, energy=0.01, window_left_ms=25.0, battery_after_j=20.0, battery_reserve_j=15.0)
    assert EdgeAwarePolicy().choose(req("energy", 100), [ok, ground])[0] == "sat"


def test_lyapunov_budget_pushes_load_off_an_overspent_tier_and_recovers() -> None:
    views = [view("diesel", compute=5, energy=5.0), view("grid", compute=8, energy=5.0)]
    policy = EdgeAwarePolicy(energy_budget_w={"diesel": 10.0}, lyapunov_v=10.0)
    assert policy.choose(req("latency"), views)[0] == "diesel"
    for i in range(10):  # 50 J within 1 s on a 10 W budget
        policy.observe(Observation(req(), "diesel", 20.0, 20.0, energy_j=5.0, at_s=i * 0.1))
    assert policy.budgets.queue_j["diesel"] == pytest.approx(50.0 - 10.0 * 0.9)
    assert policy.choose(req("latency"), views)[0] == "grid"
    policy.observe(Observation(req(), "diesel", 20.0, 20.0, energy_j=0.0001, at_s=100.0))  # long idle drains it
    assert policy.choose(req("latency"), views)[0] == "diesel"


def test_nothing_feasible_best_effort_fastest_then_strict_flag() -> None:
    views = [view("slow", compute=50), view("fast", compute=30), view("down", available=False, reason="outage")]
    policy = EdgeAwarePolicy()
    assert policy.choose(req("energy", 10), views) == ["fast", "slow", "down"]
    d = policy.decide(req("energy", 10, strict=True), views)
    assert d.feasible is False and d.ranking[0] == "fast" and d.reasons["down"] == "outage"
    assert d.explain()["feasible"] is False


def test_strict_admission_more_likely_than_not() -> None:
    # network median 10 ms, p99 30 ms, compute 5: the 95% quantile is ~26.7 ms, past a 17 ms deadline, but the
    # deadline is met with P = 1 - P(lognormal network > 12 ms) ~ 0.65; with a 14 ms deadline P(meet) < 0.5
    views = [view("edge", compute=5.0, network_p99_ms=30.0)]
    sigma = math.log(3.0) / NormalDist().inv_cdf(0.99)
    p_meet = NormalDist().cdf(math.log(12.0 / 10.0) / sigma)
    assert 0.6 < p_meet < 0.7
    d = EdgeAwarePolicy().decide(req("latency", 17, strict=True), views)
    assert d.feasible is True and "edge" in d.reasons  # served, though not under the chance constraint
    assert EdgeAwarePolicy().choose_checked(req("latency", 17, strict=True), views) == (["edge"], True)
    assert EdgeAwarePolicy(strict_min_p_meet=0.7).decide(req("latency", 17, strict=True), views).feasible is False
    assert EdgeAwarePolicy(strict_min_p_meet=1.0).choose_checked(req("latency", 17, strict=True), views)[1] is False
    assert EdgeAwarePolicy().decide(req("latency", 14, strict=True), views).feasible is False
    with pytest.raises(ValueError, match="strict_min_p_meet"):
        EdgeAwarePolicy(strict_min_p_meet=0.0)


def test_pinned_tier_and_registry() -> None:
    views = [view("a"), view("b")]
    assert EdgeAwarePolicy().choose(req(pinned_tier="b"), views) == ["b"]
    assert isinstance(build_policy("edge-aware", epsilon=0.05), EdgeAwarePolicy)
    with pytest.raises(ValueError, match="allowed: edge-aware"):
        build_policy("nope")
    with pytest.raises(ValueError, match="epsilon"):
        EdgeAwarePolicy(epsilon=0.0)
    with pytest.raises(ValueError, match="objective"):
        EdgeAwarePolicy(default_objective="speed")
    assert math.isinf(view("a").window_left_ms)
