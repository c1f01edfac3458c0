"""Thresholds, validity checks and exit codes."""

from __future__ import annotations

import pytest

from maas.errors import InvalidInput
from maas.loadtest.verdict import (
    EXIT_INVALID,
    EXIT_OK,
    EXIT_THRESHOLD,
    ValidityBounds,
    check_validity,
    evaluate_thresholds,
    exit_code,
    parse_threshold,
)


@pytest.mark.parametrize(
    "text,metric,op,value",
    [
        ("p99<50ms", "p99", "<", 50.0),
        ("p99 <= 0.5s", "p99", "<=", 500.0),
        ("p50<800us", "p50", "<", 0.8),
        ("error_rate<0.1%", "error_rate", "<", 0.001),
        ("slo_attainment>=0.99", "slo_attainment", ">=", 0.99),
        ("slo_attainment>=99%", "slo_attainment", ">=", 0.99),
        ("service_p999<20ms", "service_p999", "<", 20.0),
        ("achieved_rps>=100", "achieved_rps", ">=", 100.0),
        ("P99<5MS", "p99", "<", 5.0),
    ],
)
def test_parse(text, metric, op, value):
    t = parse_threshold(text)
    assert (t.metric, t.op, t.value) == (metric, op, pytest.approx(value))


@pytest.mark.parametrize(
    "text", ["p99<<5", "p98<5ms", "p99<", "error_rate<5ms", "p99<5%", "achieved_rps>5ms", "", "p99=5ms"]
)
def test_parse_errors(text):
    with pytest.raises(InvalidInput) as exc:
        parse_threshold(text)
    assert repr(text) in exc.value.message


def _summary(**kw):
    base = {
        "partial": False,
        "mode": "open-loop",
        "scheduled_rps": 100.0,
        "achieved_rps": 99.5,
        "lateness_ms": {"p99": 1.0},
        "latency_ms": {"p50": 5.0, "p99": 40.0},
        "service_ms": {"p99": 30.0},
        "measured_s": 60.0,
        "warmup_s": 2.0,
        "requests": 6000,
        "error_rate": 0.0005,
        "slo_attainment": None,
    }
    base.update(kw)
    return base


def test_valid_run():
    verdict, checks = check_validity(_summary(), ValidityBounds())
    assert verdict == "VALID" and [c.name for c in checks] == [
        "complete",
        "achieved_rate",
        "dispatch_lateness_p99",
        "min_duration",
        "min_requests",
    ]


@pytest.mark.parametrize(
    "kw,failing",
    [
        (dict(achieved_rps=98.9), "achieved_rate"),
        (dict(lateness_ms={"p99": 5.1}), "dispatch_lateness_p99"),
        (dict(partial=True), "complete"),
        (dict(measured_s=9.0), "min_duration"),
        (dict(requests=499), "min_requests"),
    ],
)
def test_invalid_runs_name_the_failing_check(kw, failing):
    verdict, checks = check_validity(_summary(**kw), ValidityBounds())
    assert verdict == "INVALID"
    assert [c.name for c in checks if not c.ok] == [failing]


def test_closed_loop_has_no_rate_checks():
    verdict, checks = check_validity(
        _summary(mode="closed-loop", achieved_rps=1.0, lateness_ms={"p99": None}), ValidityBounds()
    )
    assert verdict == "VALID" and "achieved_rate" not in [c.name for c in checks]


def test_thresholds_and_exit_codes():
    s = _summary()
    checks = evaluate_thresholds(s, [parse_threshold("p99<50ms"), parse_threshold("error_rate<0.1%")])
    assert all(c.ok for c in checks) and exit_code("VALID", checks) == EXIT_OK
    checks = evaluate_thresholds(s, [parse_threshold("p99<40ms")])
    assert not checks[0].ok and exit_code("VALID", checks) == EXIT_THRESHOLD
    assert exit_code("INVALID", checks) == EXIT_INVALID
    missing = evaluate_thresholds(s, [parse_threshold("slo_attainment>=0.99")])
    assert not missing[0].ok and "not available" in missing[0].detail
