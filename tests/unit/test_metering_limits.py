"""The limit authority and its replica fronts, on a ManualClock (no dependence on the real hour)."""

from __future__ import annotations

import math
from datetime import datetime, timezone

import pytest

from maas.clock import ManualClock
from maas.errors import InvalidInput, QuotaExceeded
from maas.metering.limits import LimitAuthority
from maas.metering.limits_local import LocalLimiter
from maas.metering.limits_types import Admission, PeriodUsage, TenantLimits, format_duration


def utc(*args: int) -> float:
    return datetime(*args, tzinfo=timezone.utc).timestamp()


NOON = utc(2026, 11, 21, 12, 0)


def authority(start_s: float = NOON, **kw) -> tuple[LimitAuthority, ManualClock]:
    clock = ManualClock(start_s)
    return LimitAuthority(clock, **kw), clock


def test_token_bucket_is_exact() -> None:
    auth, clock = authority()
    limits = TenantLimits(rpm=60, burst=10)
    assert [auth.admit("a", limits).ok for _ in range(10)] == [True] * 10
    refused = auth.admit("a", limits)
    assert (refused.ok, refused.reason) == (False, "rate_limit")
    assert refused.retry_after_s == pytest.approx(1.0)
    assert refused.reset_at_s == pytest.approx(NOON + 1.0)
    clock.advance(0.999)
    assert not auth.admit("a", limits).ok
    clock.advance(0.001)
    assert auth.admit("a", limits).ok
    assert not auth.admit("a", limits).ok
    clock.advance(1000.0)  # refill caps at the burst
    assert sum(auth.admit("a", limits).ok for _ in range(20)) == 10


def test_bucket_headers_and_default_burst() -> None:
    auth, clock = authority()
    limits = TenantLimits(rpm=600)  # burst defaults to one second: 10
    first = auth.admit("a", limits)
    assert first.headers() == {
        "x-ratelimit-limit-requests": "600",
        "x-ratelimit-remaining-requests": "9",
        "x-ratelimit-reset-requests": "100ms",
    }
    for _ in range(9):
        auth.admit("a", limits)
    refused = auth.admit("a", limits)
    assert refused.headers()["x-ratelimit-remaining-requests"] == "0"
    assert refused.headers()["retry-after"] == "1"
    assert format_duration(3725) == "1h2m5s" and format_duration(1.5) == "1.5s"


def test_tenants_are_independent() -> None:
    auth, _ = authority()
    limits = TenantLimits(rpm=60, burst=1)
    assert auth.admit("a", limits).ok and not auth.admit("a", limits).ok
    assert auth.admit("b", limits).ok


def test_daily_quota_resets_at_utc_midnight() -> None:
    auth, clock = authority(utc(2026, 11, 21, 23, 59, 0))
    limits = TenantLimits(requests_per_day=3)
    assert all(auth.admit("a", limits).ok for _ in range(3))
    refused = auth.admit("a", limits)
    assert (refused.reason, refused.reset_at_s) == ("quota", utc(2026, 11, 22))
    assert refused.retry_after_s == pytest.approx(60.0)
    assert refused.headers()["x-ratelimit-limit-requests"] == "3"
    clock.advance(59.999)
    assert not auth.admit("a", limits).ok
    clock.advance(0.001)
    assert auth.admit("a", limits).ok


def test_monthly_quota_resets_at_month_end_including_december() -> None:
    auth, clock = authority(utc(2026, 12, 31, 23, 0))
    limits = TenantLimits(requests_per_month=2)
    auth.admit("a", limits), auth.admit("a", limits)
    refused = auth.admit("a", limits)
    assert (refused.reason, refused.reset_at_s) == ("quota", utc(2027, 1, 1))
    clock.advance(3600.0)
    assert auth.admit("a", limits).ok


def test_february_month_end() -> None:
    auth, clock = authority(utc(2028, 2, 29, 12, 0))  # leap year
    limits = TenantLimits(requests_per_month=1)
    assert auth.admit("a", limits).ok
    assert auth.admit("a", limits).reset_at_s == utc(2028, 3, 1)


def test_energy_budget_exhaustion_gives_reason_and_reset() -> None:
    auth, clock = authority(utc(2026, 11, 21, 18, 0))
    limits = TenantLimits(energy_j_per_day=100.0)
    assert auth.admit("a", limits).ok
    auth.settle("a", energy_j=80.0, carbon_g=0.01)
    second = auth.admit("a", limits)
    assert second.ok and second.energy_pressure == pytest.approx(0.8)
    auth.settle("a", energy_j=20.0, carbon_g=0.0)
    refused = auth.admit("a", limits)
    assert (refused.ok, refused.reason, refused.reset_at_s) == (False, "energy_budget", utc(2026, 11, 22))
    assert refused.retry_after_s == pytest.approx(6 * 3600)
    with pytest.raises(QuotaExceeded) as err:
        refused.raise_if_refused()
    assert (err.value.status, err.value.reason, err.value.retry_after_s) == (429, "energy_budget", 6 * 3600)
    clock.advance(6 * 3600)
    assert auth.admit("a", limits).ok and auth.energy_pressure("a", limits) == 0.0


def test_carbon_budget_per_month() -> None:
    auth, _ = authority(utc(2026, 11, 30, 23, 0))
    limits = TenantLimits(carbon_g_per_month=1.0)
    auth.settle("a", 0.0, 1.0)
    refused = auth.admit("a", limits)
    assert (refused.reason, refused.reset_at_s) == ("carbon_budget", utc(2026, 12, 1))


def test_refusal_names_the_limit_released_last() -> None:
    auth, _ = authority()
    limits = TenantLimits(rpm=60, burst=1, requests_per_day=1)
    auth.admit("a", limits)
    refused = auth.admit("a", limits)  # both the bucket (1 s) and the day (12 h) block: the day is the truth
    assert refused.reason == "quota" and refused.retry_after_s == pytest.approx(12 * 3600)


def test_concurrency_is_released() -> None:
    auth, _ = authority()
    limits = TenantLimits(max_concurrent=2)
    assert auth.admit("a", limits).ok and auth.admit("a", limits).ok
    assert auth.admit("a", limits).reason == "concurrency"
    auth.release("a")
    assert auth.admit("a", limits).ok


@pytest.mark.parametrize(
    "values",
    [
        {"rpm": -1},
        {"burst": 0, "rpm": 5},
        {"rpm": math.inf},
        {"rpm": math.nan},
        {"rpm": 1e12},
        {"requests_per_day": 2.5},
        {"max_concurrent": True},
        {"energy_j_per_day": "lots"},
        {"carbon_g_per_month": -0.5},
        {"burst": 5},
        {"tokens_per_minute": 5},
    ],
)
def test_negative_or_absurd_limits_are_refused(values: dict) -> None:
    with pytest.raises(InvalidInput) as err:
        TenantLimits.from_mapping(values)
    assert next(iter(values)) in err.value.message and "allowed" in err.value.message


def test_zero_limits_refuse_everything_without_a_retry_time() -> None:
    auth, clock = authority()
    suspended = TenantLimits(rpm=0)
    refused = auth.admit("a", suspended)
    assert (refused.ok, refused.reason, refused.retry_after_s) == (False, "rate_limit", None)
    assert "retry-after" not in refused.headers()
    front = LocalLimiter(auth, "r0", clock)
    assert [front.admit("a", suspended).ok for _ in range(50)] == [False] * 50
    assert front.round_trips == 1  # the refusal is cached for a lease period
    assert auth.admit("a", TenantLimits(requests_per_day=0)).reason == "quota"
    assert auth.admit("b", TenantLimits(energy_j_per_day=0.0)).energy_pressure == 1.0


def test_limits_of_any_object_with_the_attributes() -> None:
    class Row:
        rpm, burst, requests_per_day, max_concurrent = 120, 4, 1000, 3

    assert TenantLimits.of(Row()) == TenantLimits(rpm=120, burst=4, requests_per_day=1000, max_concurrent=3)


def test_restart_keeps_todays_and_this_months_counts() -> None:
    auth, _ = authority()
    limits = TenantLimits(requests_per_day=5, requests_per_month=100, energy_j_per_day=10.0)
    auth.load(
        {"a": PeriodUsage(day="2026-11-21", month="2026-11", day_requests=5, day_energy_j=3.0, month_requests=50)}
    )
    assert auth.admit("a", limits).reason == "quota"
    assert auth.energy_pressure("a", limits) == pytest.approx(0.3)
    # counts from another day or month do not carry over
    stale, _ = authority()
    stale.load({"a": PeriodUsage(day="2026-11-20", month="2026-10", day_requests=5, month_requests=100)})
    assert stale.admit("a", limits).ok


def run_overload(lease_s: float = 1.0, seconds: float = 60.0, per_replica_rps: float = 25.0):
    """Two replicas share one authority, each offered ``per_replica_rps`` (2.5x overload for 600 rpm)."""
    clock = ManualClock(NOON)
    auth = LimitAuthority(clock, lease_s=lease_s)
    replicas = [LocalLimiter(auth, f"r{i}", clock, lease_s=lease_s) for i in range(2)]
    limits = TenantLimits(rpm=600)
    step_s = 1.0 / per_replica_rps
    admitted, t = 0, 0.0
    while t < seconds - 1e-9:
        for i, r in enumerate(replicas):  # interleaved, offset by half a step
            clock._now_s = NOON + t + i * step_s / 2
            a = r.admit("t", limits)
            if a.ok:
                admitted += 1
                r.release("t")
        t += step_s
    return admitted, sum(r.round_trips for r in replicas), auth.lease_calls


def test_two_replicas_hold_600_rpm_within_5_percent() -> None:
    admitted, round_trips, calls = run_overload()
    assert 570 <= admitted <= 630, admitted
    assert round_trips == calls
    offered = 2 * 25 * 60
    assert round_trips < offered / 6  # leases: measured 362 round trips for 3,000 requests (not one per request)


def test_leased_totals_never_exceed_one_process() -> None:
    for per_replica_rps in (6.0, 11.0, 40.0, 200.0):
        admitted, _, _ = run_overload(per_replica_rps=per_replica_rps)
        assert admitted <= 600 + 10, (per_replica_rps, admitted)  # a minute of rate plus one burst


@pytest.mark.parametrize("lease_s", [0.5, 1.0, 2.0])
def test_demand_exactly_at_the_limit_is_not_starved(lease_s: float) -> None:
    admitted, _, _ = run_overload(lease_s=lease_s, per_replica_rps=5.0)  # 2 x 5/s = 600 rpm offered
    assert 570 <= admitted <= 600


def test_a_dead_replicas_lease_stays_counted() -> None:
    clock = ManualClock(NOON)
    auth = LimitAuthority(clock, lease_grace_s=5.0)
    limits = TenantLimits(rpm=600, requests_per_day=100)
    front = LocalLimiter(auth, "r0", clock)
    front.admit("t", limits)
    for _ in range(9):
        clock.advance(0.01)
        front.admit("t", limits)
    clock.advance(0.5)
    front.admit("t", limits)  # a lease sized on the demand rate: up to 10 tokens, 1 used
    granted = auth.usage("t").day_requests
    assert granted > 11
    clock.advance(60.0)  # the replica died: its lease is never given back
    assert auth.admit("t", limits).ok
    assert auth.usage("t").day_requests == granted + 1  # conservative: the lapsed tokens count as used


def test_unused_lease_tokens_are_given_back() -> None:
    clock = ManualClock(NOON)
    auth = LimitAuthority(clock)
    limits = TenantLimits(rpm=600, requests_per_day=1000)
    front = LocalLimiter(auth, "r0", clock)
    for _ in range(5):  # demand grows the next grant
        front.admit("t", limits)
    clock.advance(1.0)
    front.admit("t", limits)  # new lease of up to 5, one used
    assert auth.usage("t").day_requests > 6
    front.flush()
    assert auth.usage("t").day_requests == 6


def test_lease_respects_daily_quota_exactly() -> None:
    clock = ManualClock(NOON)
    auth = LimitAuthority(clock)
    limits = TenantLimits(requests_per_day=7)
    fronts = [LocalLimiter(auth, f"r{i}", clock) for i in range(3)]
    admitted = 0
    for _ in range(20):
        for f in fronts:
            admitted += f.admit("t", limits).ok
            clock.advance(0.01)
    assert admitted == 7
    refused = fronts[0].admit("t", limits)
    assert isinstance(refused, Admission) and refused.reason == "quota"


def test_concurrency_slots_across_replicas() -> None:
    clock = ManualClock(NOON)
    auth = LimitAuthority(clock)
    limits = TenantLimits(max_concurrent=3)
    a, b = LocalLimiter(auth, "a", clock), LocalLimiter(auth, "b", clock)
    held = [x.admit("t", limits).ok for x in (a, a, b, b, a, b)]
    assert sum(held) == 3
    assert b.admit("t", limits).reason in ("concurrency",)


def test_energy_reported_through_leases_exhausts_budget() -> None:
    clock = ManualClock(utc(2026, 11, 21, 22, 0))
    auth = LimitAuthority(clock)
    limits = TenantLimits(energy_j_per_day=10.0)
    front = LocalLimiter(auth, "r0", clock)
    assert front.admit("t", limits).ok
    front.settle("t", energy_j=10.0, carbon_g=0.0)
    front.release("t")
    clock.advance(1.0)  # the lease lapsed: the next admit reports 10 J and is refused
    refused = front.admit("t", limits)
    assert (refused.reason, refused.reset_at_s) == ("energy_budget", utc(2026, 11, 22))
    assert auth.energy_pressure("t", limits) == 1.0


def test_a_quiet_tenant_gives_its_unused_lease_back_so_a_burst_costs_only_what_it_used() -> None:
    clock = ManualClock(datetime(2026, 3, 10, 12, 0, tzinfo=timezone.utc).timestamp())
    auth = LimitAuthority(clock, lease_s=1.0)
    front = LocalLimiter(auth, "r0", clock, lease_s=1.0)
    limits = TenantLimits(rpm=600, requests_per_day=1000)
    for _ in range(3):
        assert front.admit("acme", limits).ok
    leased = auth.usage("acme").day_requests
    assert leased > 3  # the replica took a lease ahead of demand
    clock.advance(0.5)
    assert front.return_idle() == 0  # the lease is still running: nothing to give back yet
    clock.advance(0.6)
    assert front.return_idle() == 1
    assert auth.usage("acme").day_requests == 3  # the day's quota counts the 3 requests, not the lease
    assert front.return_idle() == 0
