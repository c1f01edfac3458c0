"""HDR histograms, the recorder and merging worker payloads."""

from __future__ import annotations

import numpy as np
import pytest

from maas.loadtest import histograms as H
from maas.loadtest.recorder import Outcome, Recorder, merge_payloads
from maas.loadtest.result import summarize, timeseries


def _platform(tier: str, energy: float, met: bool = True) -> dict:
    return {
        "tier": tier,
        "energy_j": energy,
        "carbon_g": energy / 10,
        "deadline_met": met,
        "uplink_ms": 1.0,
        "queue_ms": 2.0,
        "compute_ms": 3.0,
        "downlink_ms": 4.0,
        "platform_ms": 0.5,
    }


def test_histogram_percentiles_and_roundtrip():
    h = H.new_histogram()
    for ms in range(1, 1001):
        H.record_s(h, ms / 1000.0)
    s = H.summarize_ms(h)
    assert s["p50"] == pytest.approx(500, rel=0.002) and s["p99"] == pytest.approx(990, rel=0.002)
    assert s["max"] == pytest.approx(1000, rel=0.002)
    back = H.summarize_ms(H.decode(H.encode(h)))
    assert back == s
    assert H.summarize_ms(H.new_histogram())["p99"] is None


def test_hdr_correction_reference_example():
    """The reference's example: 10,000 x 1 ms at a 10 ms interval plus one 1 s stall."""
    raw, corrected = H.new_histogram(), H.new_histogram()
    for _ in range(10_000):
        raw.record_value(1000)
        corrected.record_corrected_value(1000, 10_000)
    raw.record_value(1_000_000)
    corrected.record_corrected_value(1_000_000, 10_000)
    assert raw.get_value_at_percentile(99.9) == pytest.approx(1000, rel=0.01)
    assert corrected.get_value_at_percentile(99.9) > 800_000


def test_latency_service_lateness_are_separate():
    r = Recorder()
    r.record(1.0, 1.004, 1.010, "m", None, Outcome(200))  # 4 ms late, 6 ms service, 10 ms latency
    s = summarize(
        merge_payloads([r.to_payload()]),
        mode="open-loop",
        partial=False,
        target_rps=1,
        schedule_rate=lambda a, b: 1.0,
        duration_s=2,
        warmup_s=0,
    )
    assert s["latency_ms"]["max"] == pytest.approx(10, rel=0.01)
    assert s["service_ms"]["max"] == pytest.approx(6, rel=0.01)
    assert s["lateness_ms"]["max"] == pytest.approx(4, rel=0.01)


def test_warmup_excluded_errors_counted_slo():
    r = Recorder(warmup_s=1.0)
    r.record(0.5, 0.5, 0.6, "m", 50, Outcome(200))  # warm-up
    r.record(1.1, 1.1, 1.120, "m", 50, Outcome(200))  # met (20 ms)
    r.record(1.2, 1.2, 1.300, "m", 50, Outcome(200))  # missed (100 ms)
    r.record(1.3, 1.3, 1.301, "m", 50, Outcome(503, error="HTTP 503: busy"))  # error: a miss
    r.record(1.4, 1.4, 11.4, "m", 50, Outcome(-1, error="timeout"))  # timeout: a result
    m = merge_payloads([r.to_payload()])
    assert m["requests"] == 4 and m["warmup_requests"] == 1
    assert m["errors"] == 2 and m["timeouts"] == 1
    assert m["slo_n"] == 4 and m["slo_met"] == 1
    assert m["latency_hist"].get_max_value() == pytest.approx(10_000_000, rel=0.001)
    assert m["status_counts"] == {"200": 2, "503": 1, "-1": 1}


def test_per_tier_breakdown_and_energy():
    r = Recorder()
    for i in range(30):
        tier = "edge" if i % 3 else "sat"
        r.record(
            i * 0.1,
            i * 0.1,
            i * 0.1 + 0.01,
            "digits",
            100,
            Outcome(200, _platform(tier, 2.0 if tier == "sat" else 0.5, tier != "sat")),
        )
    r.record(3.5, 3.5, 3.6, "digits", None, Outcome(200, {}))  # a plain V2 server: no tier
    s = summarize(
        merge_payloads([r.to_payload()]),
        mode="open-loop",
        partial=False,
        target_rps=10,
        schedule_rate=lambda a, b: 10.0,
        duration_s=4,
        warmup_s=0,
    )
    assert set(s["per_tier"]) == {"edge", "sat"}
    assert s["per_tier"]["edge"]["requests"] == 20 and s["per_tier"]["sat"]["requests"] == 10
    assert s["per_tier"]["sat"]["energy_j_per_request"] == pytest.approx(2.0)
    assert s["per_tier"]["edge"]["breakdown_ms"]["downlink_ms"] == pytest.approx(4.0)
    assert s["per_tier"]["sat"]["platform_deadline_met"] == 0.0
    assert s["energy_j_per_request"] == pytest.approx((20 * 0.5 + 10 * 2.0) / 30)
    assert s["per_model"]["digits"]["requests"] == 31
    assert s["per_tier"]["edge"]["share"] == pytest.approx(20 / 31, rel=1e-4)


def test_merge_equals_single_recorder():
    rng = np.random.default_rng(0)
    whole, parts = Recorder(window_s=0.5), [Recorder(window_s=0.5), Recorder(window_s=0.5)]
    for i in range(2000):
        t = i * 0.002
        lat = float(rng.exponential(0.01))
        out = Outcome(200 if i % 50 else 500, _platform("edge" if i % 2 else "cloud", 1.0))
        whole.record(t, t + 0.0001, t + lat, "m", 20, out)
        parts[i % 2].record(t, t + 0.0001, t + lat, "m", 20, out)
    a = merge_payloads([whole.to_payload()])
    b = merge_payloads([p.to_payload() for p in parts])
    for key in ("latency_hist", "service_hist", "lateness_hist"):
        assert H.summarize_ms(a[key]) == H.summarize_ms(b[key])
    for key in ("requests", "errors", "slo_met", "status_counts"):
        assert a[key] == b[key]
    ta, tb = timeseries(a, 0.5), timeseries(b, 0.5)
    assert ta == tb and len(ta["t_s"]) == 8 and sum(ta["count"]) == 2000
    assert sum(ta["tiers"]["edge"]) == 1000
    # attainment per window: the window's met / its requests with a deadline (every 50th failed, the rest vs 20 ms)
    met = sum(a * n for a, n in zip(ta["attainment"], ta["count"], strict=True))
    assert met == pytest.approx(a["slo_met"]) and all(0.0 < x < 1.0 for x in ta["attainment"])


def test_achieved_rate_uses_measured_window_and_falls_when_behind():
    r = Recorder(warmup_s=1.0)
    for i in range(100):  # 10 rps scheduled over 10 s, but sending fell behind by up to 5 s at the end
        t = i * 0.1
        r.record(t, t + t / 2, t + t / 2 + 0.001, "m", None, Outcome(200))
    s = summarize(
        merge_payloads([r.to_payload()]),
        mode="open-loop",
        partial=False,
        target_rps=10,
        schedule_rate=lambda a, b: 10.0,
        duration_s=10,
        warmup_s=1.0,
    )
    assert s["requests"] == 90
    assert s["measured_s"] == pytest.approx(14.85 - 1.0, abs=0.01)
    assert s["achieved_rps"] == pytest.approx(90 / 13.85, rel=1e-3)
