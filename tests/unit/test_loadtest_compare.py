"""Comparing results with confidence intervals; find-peak's search."""

from __future__ import annotations

import numpy as np
import pytest

from maas.loadtest.compare import bootstrap_percentile_diff, compare_results, proportion_diff
from maas.loadtest.peak import Trial, find_peak
from maas.loadtest.recorder import Outcome, Recorder, merge_payloads
from maas.loadtest.result import build_result, summarize


def make_result(scale_s: float, n: int = 4000, seed: int = 0, error_every: int = 0, mode: str = "open-loop"):
    """A result document from synthetic outcomes: exponential latencies with mean ``scale_s``."""
    rng = np.random.default_rng(seed)
    rec = Recorder()
    for i in range(n):
        t = i * 0.01
        status = 500 if error_every and i % error_every == 0 else 200
        rec.record(
            t, t, t + float(rng.exponential(scale_s)), "m", 50.0, Outcome(status, {"tier": "edge", "energy_j": 1.0})
        )
    merged = merge_payloads([rec.to_payload()])
    s = summarize(
        merged,
        mode=mode,
        partial=False,
        target_rps=100.0,
        schedule_rate=lambda a, b: 100.0,
        duration_s=n * 0.01,
        warmup_s=0.0,
    )
    s.update(verdict="VALID", checks=[], thresholds=[])
    return build_result(
        config={"url": "http://x"},
        seeds={"schedule": 1, "payloads": 2},
        summary=s,
        merged=merged,
        window_s=1.0,
        started_at="2026-11-21T00:00:00+00:00",
        notes=[],
    )


def test_identical_distributions_are_not_significant():
    a, b = make_result(0.01, seed=1), make_result(0.01, seed=2)
    cmp = compare_results(a, b, iterations=400)
    rows = {r["metric"]: r for r in cmp["rows"]}
    for key in ("latency_p50_ms", "latency_p90_ms", "latency_p99_ms"):
        assert not rows[key]["significant"], rows[key]
        assert rows[key]["ci_low"] <= 0 <= rows[key]["ci_high"]
    assert cmp["warnings"] == []


def test_a_slower_candidate_is_significant_and_the_interval_covers_the_shift():
    a, b = make_result(0.010, seed=1), make_result(0.013, seed=2)
    rows = {r["metric"]: r for r in compare_results(a, b, iterations=400)["rows"]}
    p50 = rows["latency_p50_ms"]
    true_shift_ms = (0.013 - 0.010) * np.log(2) * 1000  # p50 of an exponential is scale * ln 2
    assert p50["significant"] and p50["diff"] > 0
    assert p50["ci_low"] <= true_shift_ms <= p50["ci_high"]


def test_error_rate_difference_and_warnings():
    a = make_result(0.01, seed=1, error_every=100)
    b = make_result(0.01, seed=2, error_every=10, mode="closed-loop")
    cmp = compare_results(a, b, iterations=200)
    err = {r["metric"]: r for r in cmp["rows"]}["error_rate"]
    assert err["diff"] == pytest.approx(0.09) and err["significant"] and err["method"] == "wald"
    assert any("modes differ" in w for w in cmp["warnings"])


def test_bootstrap_and_wald_helpers():
    a = make_result(0.01, seed=3)["hdr"]["latency"]
    low, high = bootstrap_percentile_diff(a, a, 99.0, iterations=300)
    assert low <= 0 <= high
    d, lo, hi = proportion_diff(10, 1000, 30, 1000)
    assert d == pytest.approx(0.02) and lo < 0.02 < hi and lo > 0


def _fake_measure(capacity: float, invalid_above: float | None = None):
    calls = []

    def measure(rate: float) -> Trial:
        calls.append(rate)
        if invalid_above is not None and rate > invalid_above:
            return Trial(rate, False, "INVALID", harness_limited=True)
        return Trial(rate, rate <= capacity)

    return measure, calls


def test_find_peak_brackets_capacity():
    measure, calls = _fake_measure(730.0)
    res = find_peak(measure, start_rps=50, max_rps=10_000, tolerance=0.02, max_trials=20)
    assert res.peak_rps <= 730.0 < res.lowest_failing_rps
    assert (res.lowest_failing_rps - res.peak_rps) <= 0.02 * res.lowest_failing_rps
    assert calls[:5] == [50, 100, 200, 400, 800] and res.limited_by == "slo"


def test_find_peak_first_trial_fails_and_max_rps():
    measure, _ = _fake_measure(30.0)
    res = find_peak(measure, start_rps=100, max_rps=1000, tolerance=0.05, max_trials=20)
    assert 28.5 <= res.peak_rps <= 30.0
    measure, _ = _fake_measure(1e9)
    res = find_peak(measure, start_rps=100, max_rps=1000)
    assert res.peak_rps == 1000 and res.limited_by == "max_rps" and res.lowest_failing_rps is None


def test_find_peak_reports_harness_limit():
    measure, _ = _fake_measure(1e9, invalid_above=500)
    res = find_peak(measure, start_rps=100, max_rps=10_000, tolerance=0.05)
    assert res.limited_by == "harness" and res.peak_rps <= 500
    with pytest.raises(ValueError):
        find_peak(measure, start_rps=0, max_rps=10)
