"""Online correction: mean ratios, the calibrated tail, best-effort order, strict flag, energy budgets."""

from __future__ import annotations

import math
import random

import pytest

from maas.routing import EdgeAwarePolicy, Observation, RouteRequest, TierView
from maas.routing.budget import EnergyBudgets
from maas.routing.correction import LatencyCorrector


def test_mean_ratio_is_hierarchical() -> None:
    c = LatencyCorrector(alpha=0.1, min_count=3)
    assert c.ratio("s1", "t", "m") == 1.0
    c.update("s1", "t", "m", 10.0, 20.0)
    # one site observation: not enough for the site level, the tier level knows 2.0
    assert c.ratio("s1", "t", "m") == pytest.approx(2.0)
    assert c.ratio("s2", "t", "m") == pytest.approx(2.0)
    for _ in range(3):
        c.update("s2", "t", "m", 10.0, 10.0)
    assert c.ratio("s2", "t", "m") == pytest.approx(1.0)  # s2 has its own now
    assert c.ratio("s1", "t", "m") == pytest.approx((2.0 + 1 + 1 + 1) / 4)  # tier level: exact mean while young


def test_ratios_fade_towards_the_model_and_stale_tails_are_dropped() -> None:
    c = LatencyCorrector(fade_s=10.0, min_tail=5)
    for k in range(5):
        c.update("s", "slow", "m", 10.0, 30.0, network_ms=5.0, at_s=float(k))  # ratio 3, residual 4
    assert c.ratio("s", "slow", "m") == pytest.approx(3.0)
    assert c.quantile("slow", "m") == pytest.approx(4.0)
    c.update("s", "other", "m", 10.0, 10.0, at_s=13.0)  # time moves on by other tiers' completions
    assert c.ratio("s", "slow", "m") == pytest.approx(3.0)  # 9 s: within the grace period
    assert c.quantile("slow", "m") == pytest.approx(4.0)
    c.update("s", "other", "m", 10.0, 10.0, at_s=24.0)
    assert c.ratio("s", "slow", "m") == pytest.approx(1.0 + 2.0 * math.exp(-1.0))  # 20 s: 10 s past the grace
    assert c.quantile("slow", "m") is None  # no residual for > 10 s: the tier model's p99 is used again
    # a new observation starts from the faded value (exact mean while young: the 6th observation)
    c.update("s", "slow", "m", 10.0, 10.0, at_s=24.0)
    assert c.ratio("s", "slow", "m") == pytest.approx(1.0 + 2.0 * math.exp(-1.0) * (1 - 1 / 6))
    never = LatencyCorrector(fade_s=None)
    never.update("s", "slow", "m", 10.0, 30.0, at_s=0.0)
    never.update("s", "other", "m", 10.0, 10.0, at_s=1000.0)
    assert never.ratio("s", "slow", "m") == pytest.approx(3.0)


def test_tail_quantile_of_normalised_residuals() -> None:
    c = LatencyCorrector(tail_q=0.9, window=100, min_tail=50)
    rng = random.Random(0)
    residuals = [rng.uniform(0.0, 1.0) for _ in range(49)]
    for u in residuals:  # observed = estimated + u * network
        c.update("s", "t", "m", 20.0, 20.0 + u * 10.0, network_ms=10.0)
    assert c.quantile("t", "m") is None
    c.update("s", "t", "m", 20.0, 20.0 + 0.5 * 10.0, network_ms=10.0)
    ordered = sorted(residuals + [0.5])
    assert c.quantile("t", "m") == pytest.approx(ordered[45])
    assert c.quantile("t", "other-model") == pytest.approx(ordered[45])  # pooled over the tier


def test_calibrated_tail_replaces_a_too_wide_model_p99() -> None:
    # the model says p99 network 60 ms for a 10 ms median: infeasible for a 40 ms deadline
    v = TierView("t", True, uplink_ms=5, downlink_ms=5, compute_ms=10, network_p99_ms=60.0)
    req = RouteRequest(model="m", site="s", deadline_ms=40.0)
    policy = EdgeAwarePolicy(epsilon=0.01, strict_min_p_meet=1.0)  # the flag: the chance constraint alone
    assert policy.choose_checked(req, [v])[1] is False
    for _ in range(300):  # reality: never more than 1.5 x the network estimate late
        policy.observe(Observation(req, "t", 20.0, 20.0 + 1.5 * 10.0 * random.random(), network_ms=10.0))
    assert policy.choose_checked(req, [v])[1] is True


def test_best_effort_prefers_the_tier_most_likely_to_meet_the_deadline() -> None:
    # deadline 32 ms. a: expected 29 ms, network median 20 / p99 80: P(miss) = P(net > 23) ~ 0.41.
    # b: expected 30.7 ms, network median 2 / p99 4: P(miss) = P(net > 3.3) ~ 0.05. Neither meets 99 %.
    a = TierView("a", True, uplink_ms=10, downlink_ms=10, compute_ms=9, network_p99_ms=80.0)
    b = TierView("b", True, uplink_ms=1, downlink_ms=1, compute_ms=28.7, network_p99_ms=4.0)
    req = RouteRequest(model="m", site="s", deadline_ms=32.0)
    ranking, feasible = EdgeAwarePolicy(epsilon=0.01, strict_min_p_meet=1.0).choose_checked(req, [a, b])
    assert feasible is False
    assert ranking == ["b", "a"]
    # without a deadline the fastest expected tier leads
    assert EdgeAwarePolicy().choose(RouteRequest(model="m", site="s"), [a, b])[0] == "a"


def test_energy_budget_queue_drains_at_the_budget_rate() -> None:
    b = EnergyBudgets({"t": 2.0}, v=1.0)
    b.record("t", 10.0, at_s=0.0)
    b.record("t", 0.0, at_s=3.0)  # 3 s x 2 W drained
    assert b.queue_j["t"] == pytest.approx(4.0)
    assert b.weight("t") == pytest.approx(4.0)
    b.record("t", 1.0, at_s=10.0)
    assert b.queue_j["t"] == pytest.approx(1.0)
    assert b.weight("other") == 0.0
    with pytest.raises(ValueError):
        EnergyBudgets({"t": -1.0})


def test_factors_is_ratio_and_quantile_in_one_call() -> None:
    rng = random.Random(4)
    c = LatencyCorrector(fade_s=2.0, min_count=3, min_tail=4, window=16)
    tiers, sites = ["a", "b"], ["s1", "s2"]
    for k in range(300):
        c.update(rng.choice(sites), rng.choice(tiers), "m", 10.0, rng.uniform(5.0, 40.0), network_ms=4.0,
                 at_s=k * rng.uniform(0.0, 0.2))
        for s in sites:
            for t in tiers:
                for q in (None, 0.5):
                    assert c.factors(s, t, "m", q) == (c.ratio(s, t, "m"), c.quantile(t, "m", q))
