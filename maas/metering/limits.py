"""The limit authority: the one place a tenant's limits are counted, so they hold across gateway replicas.

``maas.serving`` hosts one ``LimitAuthority`` in one Ray actor; each gateway replica talks to it through a
``LocalLimiter`` (``maas.metering.limits_local``) that takes *leases* (batches of admissions) instead of asking
per request. Direct per-request use (``admit``/``settle``/``release``) is exact and is what a single process uses.

Limits (``TenantLimits``, any may be None = unlimited):
    rpm + burst            token bucket: ``burst`` tokens, refilled at rpm/60 per second
    requests_per_day/month admitted requests per UTC calendar day / month (reset at 00:00 UTC / the 1st)
    max_concurrent         requests in flight
    energy_j_per_day       joules settled per UTC day
    carbon_g_per_month     grams CO2e settled per UTC month
A refusal names the limit whose release is furthest away (the honest ``retry_after_s``) among those that block.

Lifecycle per request (direct use):
    1. ``admit(tenant, limits)`` -> ``Admission``; refused: raise ``admission.error()`` (429), nothing counted.
    2. run the request.
    3. ``settle(tenant, energy_j, carbon_g)`` with what it cost; ``release(tenant)`` (always, also on failure).
On start: ``load(period_usage(engine, now))`` (``maas.metering.usage``) so a restart does not reset quotas.
Time comes from the injected clock; every method also takes an explicit ``now_s``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from maas.clock import Clock
from maas.metering.limits_types import (
    Admission,
    Lease,
    PeriodUsage,
    TenantLimits,
    day_key,
    month_key,
    next_day_start_s,
    next_month_start_s,
)

__all__ = ["LimitAuthority"]

_EPS = 1e-5  # tokens: float time near 1.8e9 s resolves ~2.4e-7 s, so exact refills land a hair short
CONCURRENCY_RETRY_S = 1.0


@dataclass
class _LeaseRecord:
    tenant: str
    holder: str
    tokens: int
    day: str
    month: str
    expires_at_s: float


@dataclass
class _Tenant:
    tokens: float | None = None  # None: bucket not started (starts full)
    tokens_at_s: float = 0.0
    usage: PeriodUsage = field(default_factory=lambda: PeriodUsage(day="", month=""))
    in_flight: int = 0  # direct admits not yet released
    holder_in_flight: dict[str, tuple[int, float]] = field(default_factory=dict)  # holder -> (slots, valid until)


class LimitAuthority:
    """Counts every tenant's bucket, calendar quotas, budgets and concurrency. Not thread-safe: one owner
    (one Ray actor, or one event loop) calls it."""

    def __init__(self, clock: Clock, *, lease_s: float = 1.0, lease_grace_s: float = 5.0) -> None:
        if not (0 < lease_s <= 60):
            raise ValueError("lease_s must be in (0, 60]")
        self._clock = clock
        self.lease_s = lease_s
        self._grace_s = lease_grace_s
        self._tenants: dict[str, _Tenant] = {}
        self._leases: dict[int, _LeaseRecord] = {}
        self._next_lease = 1
        self.lease_calls = 0  # round trips served (for tests and metrics)

    # ---- state ---------------------------------------------------------------------------------------------

    def load(self, usage: Mapping[str, PeriodUsage]) -> None:
        """Initialise today's and this month's counters (from the usage records in the database)."""
        for tenant, u in usage.items():
            self._state(tenant, self._clock.now_s()).usage = PeriodUsage(
                u.day, u.month, u.day_requests, u.day_energy_j, u.month_requests, u.month_carbon_g
            )

    def _state(self, tenant: str, now_s: float) -> _Tenant:
        st = self._tenants.get(tenant)
        if st is None:
            st = self._tenants[tenant] = _Tenant(usage=PeriodUsage(day=day_key(now_s), month=month_key(now_s)))
        u = st.usage
        day, month = day_key(now_s), month_key(now_s)
        if u.day != day:
            u.day, u.day_requests, u.day_energy_j = day, 0, 0.0
        if u.month != month:
            u.month, u.month_requests, u.month_carbon_g = month, 0, 0.0
        return st

    def _refill(self, st: _Tenant, limits: TenantLimits, now_s: float) -> float | None:
        size, rate = limits.bucket_size, limits.rate_per_s
        if size is None or rate is None:
            st.tokens = None
            return None
        if st.tokens is None:
            st.tokens = size
        else:
            st.tokens = min(size, st.tokens + max(0.0, now_s - st.tokens_at_s) * rate)
        st.tokens_at_s = max(st.tokens_at_s, now_s)
        return st.tokens

    def _in_flight(self, st: _Tenant, now_s: float) -> int:
        """Direct admits in flight plus every replica's reserved concurrency slots (until their lease lapses)."""
        st.holder_in_flight = {h: v for h, v in st.holder_in_flight.items() if v[1] > now_s}
        return st.in_flight + sum(n for n, _ in st.holder_in_flight.values())

    def _expire_leases(self, now_s: float) -> None:
        """Forget leases expired for longer than the grace period: their tokens stay counted (conservative)."""
        dead = [i for i, rec in self._leases.items() if rec.expires_at_s + self._grace_s < now_s]
        for i in dead:
            del self._leases[i]

    # ---- the checks ----------------------------------------------------------------------------------------

    def _blockers(
        self, st: _Tenant, limits: TenantLimits, now_s: float, need: float, concurrency: bool = True
    ) -> list[tuple[float, str, float]]:
        """(retry_after_s, reason, reset_at_s) for every limit that blocks ``need`` more admissions now."""
        u, out = st.usage, []
        if limits.requests_per_month is not None and u.month_requests + 1 > limits.requests_per_month:
            reset = next_month_start_s(now_s)
            out.append((reset - now_s, "quota", reset))
        if limits.requests_per_day is not None and u.day_requests + 1 > limits.requests_per_day:
            reset = next_day_start_s(now_s)
            out.append((reset - now_s, "quota", reset))
        if limits.carbon_g_per_month is not None and u.month_carbon_g >= limits.carbon_g_per_month:
            reset = next_month_start_s(now_s)
            out.append((reset - now_s, "carbon_budget", reset))
        if limits.energy_j_per_day is not None and u.day_energy_j >= limits.energy_j_per_day:
            reset = next_day_start_s(now_s)
            out.append((reset - now_s, "energy_budget", reset))
        if concurrency and limits.max_concurrent is not None and self._in_flight(st, now_s) >= limits.max_concurrent:
            out.append((CONCURRENCY_RETRY_S, "concurrency", now_s + CONCURRENCY_RETRY_S))
        tokens = self._refill(st, limits, now_s)
        if tokens is not None and limits.rate_per_s == 0:
            if tokens + _EPS < 1.0:  # rpm 0: nothing until the limit is raised
                out.append((math.inf, "rate_limit", math.inf))
            return out
        need = min(need, limits.bucket_size or 1.0)
        if tokens is not None and tokens + _EPS < need:
            wait = (need - tokens) / (limits.rate_per_s or 1.0)
            out.append((wait, "rate_limit", now_s + wait))
        return out

    def _answer(self, st: _Tenant, limits: TenantLimits, now_s: float, blockers=None) -> Admission:
        """An admission carrying the header values (bucket, else daily, else monthly quota) and energy pressure."""
        u = st.usage
        budget_j = limits.energy_j_per_day
        pressure = 0.0 if budget_j is None else 1.0 if budget_j == 0 else min(1.0, u.day_energy_j / budget_j)
        if limits.rpm is not None:
            size, tokens = limits.bucket_size or 1.0, st.tokens or 0.0
            limit, remaining = int(limits.rpm), math.floor(tokens + _EPS)
            reset_s = max(0.0, (size - tokens) / limits.rate_per_s) if limits.rate_per_s else 0.0
        elif limits.requests_per_day is not None:
            limit, remaining = limits.requests_per_day, limits.requests_per_day - u.day_requests
            reset_s = next_day_start_s(now_s) - now_s
        elif limits.requests_per_month is not None:
            limit, remaining = limits.requests_per_month, limits.requests_per_month - u.month_requests
            reset_s = next_month_start_s(now_s) - now_s
        else:
            limit = remaining = None
            reset_s = None
        if blockers:
            retry, reason, reset_at = max(blockers)
            if math.isinf(retry):  # a zero limit: no time at which asking again helps
                retry = reset_at = None
            return Admission(False, reason, retry, reset_at, limit, remaining, reset_s, pressure)
        return Admission(True, None, None, None, limit, remaining, reset_s, pressure)

    def _count(self, st: _Tenant, limits: TenantLimits, n: int) -> None:
        if st.tokens is not None:
            st.tokens -= n
        st.usage.day_requests += n
        st.usage.month_requests += n

    # ---- direct, per request -------------------------------------------------------------------------------

    def admit(self, tenant: str, limits: TenantLimits, now_s: float | None = None) -> Admission:
        """Admit one request now, or say which limit refuses it and until when. Admitted: counted at once."""
        now_s = self._clock.now_s() if now_s is None else now_s
        st = self._state(tenant, now_s)
        self._expire_leases(now_s)
        blockers = self._blockers(st, limits, now_s, 1.0)
        if blockers:
            return self._answer(st, limits, now_s, blockers)
        self._count(st, limits, 1)
        st.in_flight += 1
        return self._answer(st, limits, now_s)

    def settle(self, tenant: str, energy_j: float, carbon_g: float, now_s: float | None = None) -> None:
        """Add what a finished request cost to today's joules and this month's grams."""
        now_s = self._clock.now_s() if now_s is None else now_s
        if energy_j < 0 or carbon_g < 0 or not (math.isfinite(energy_j) and math.isfinite(carbon_g)):
            raise ValueError("energy_j and carbon_g must be finite and >= 0")
        u = self._state(tenant, now_s).usage
        u.day_energy_j += energy_j
        u.month_carbon_g += carbon_g

    def release(self, tenant: str) -> None:
        """A directly admitted request finished (whatever its outcome)."""
        st = self._tenants.get(tenant)
        if st is not None and st.in_flight > 0:
            st.in_flight -= 1

    def energy_pressure(self, tenant: str, limits: TenantLimits, now_s: float | None = None) -> float:
        """Fraction of today's joule budget used, in [0, 1] (0 without a budget)."""
        now_s = self._clock.now_s() if now_s is None else now_s
        if limits.energy_j_per_day is None:
            return 0.0
        if limits.energy_j_per_day == 0:
            return 1.0
        return min(1.0, self._state(tenant, now_s).usage.day_energy_j / limits.energy_j_per_day)

    def usage(self, tenant: str, now_s: float | None = None) -> PeriodUsage:
        """A copy of the tenant's counters for the current day and month."""
        now_s = self._clock.now_s() if now_s is None else now_s
        u = self._state(tenant, now_s).usage
        return PeriodUsage(u.day, u.month, u.day_requests, u.day_energy_j, u.month_requests, u.month_carbon_g)

    # ---- leases (gateway replicas) -------------------------------------------------------------------------

    def lease(
        self,
        tenant: str,
        limits: TenantLimits,
        holder: str,
        want: int,
        *,
        returned_lease_id: int | None = None,
        unused: int = 0,
        in_flight: int = 0,
        energy_j: float = 0.0,
        carbon_g: float = 0.0,
        now_s: float | None = None,
    ) -> Lease:
        """One round trip from a replica: give back ``unused`` tokens of its previous lease, report its
        ``in_flight`` requests and the energy/carbon it settled since, and take up to ``want`` new admissions.

        A grant is at most one lease period of the rpm (so replicas share the rate), what the bucket holds and
        what the day's and month's quotas leave. Under the rate limit a grant is at least half of that (else
        refused until the bucket holds it: ``retry_after_s``), so a starved replica asks about twice per lease
        period, not once per request; the tokens wait in the bucket meanwhile, so none are lost.
        """
        now_s = self._clock.now_s() if now_s is None else now_s
        self.lease_calls += 1
        st = self._state(tenant, now_s)
        self._expire_leases(now_s)
        self._give_back(st, limits, returned_lease_id, unused, now_s)
        if energy_j or carbon_g:
            self.settle(tenant, energy_j, carbon_g, now_s)
        if want <= 0:  # only giving back and reporting
            return Lease(0, 0, now_s, self._answer(st, limits, now_s), None)
        cap = want
        if limits.rate_per_s is not None:
            per_lease = max(1, math.floor(limits.rate_per_s * self.lease_s + _EPS))
            cap = min(cap, per_lease, max(1, math.floor(limits.bucket_size or 1)))
        blockers = self._blockers(st, limits, now_s, max(1.0, math.ceil(cap / 2)), concurrency=False)
        slots = None
        st.holder_in_flight.pop(holder, None)
        if limits.max_concurrent is not None:
            free = max(0, limits.max_concurrent - self._in_flight(st, now_s))
            slots = min(free, in_flight + cap) if free > in_flight else in_flight
            st.holder_in_flight[holder] = (max(slots, in_flight), now_s + self.lease_s + self._grace_s)
            if slots <= in_flight:
                blockers.append((CONCURRENCY_RETRY_S, "concurrency", now_s + CONCURRENCY_RETRY_S))
        if blockers:
            return Lease(0, 0, now_s, self._answer(st, limits, now_s, blockers), slots)
        grant = cap
        if st.tokens is not None:
            grant = min(grant, math.floor(st.tokens + _EPS))
        u = st.usage
        if limits.requests_per_day is not None:
            grant = min(grant, limits.requests_per_day - u.day_requests)
        if limits.requests_per_month is not None:
            grant = min(grant, limits.requests_per_month - u.month_requests)
        self._count(st, limits, grant)
        lease_id, self._next_lease = self._next_lease, self._next_lease + 1
        lease_s = self.lease_s
        if limits.rate_per_s and limits.bucket_size:  # unused tokens come back before the bucket would overflow
            lease_s = min(lease_s, limits.bucket_size / limits.rate_per_s)
        expires = now_s + lease_s
        self._leases[lease_id] = _LeaseRecord(tenant, holder, grant, u.day, u.month, expires)
        return Lease(lease_id, grant, expires, self._answer(st, limits, now_s), slots)

    def _give_back(self, st: _Tenant, limits: TenantLimits, lease_id: int | None, unused: int, now_s: float) -> None:
        rec = self._leases.pop(lease_id, None) if lease_id is not None else None
        if rec is None or unused <= 0:
            return
        unused = min(unused, rec.tokens)
        if st.tokens is not None and limits.bucket_size is not None:
            st.tokens = min(limits.bucket_size, st.tokens + unused)
        if st.usage.day == rec.day:
            st.usage.day_requests = max(0, st.usage.day_requests - unused)
        if st.usage.month == rec.month:
            st.usage.month_requests = max(0, st.usage.month_requests - unused)
