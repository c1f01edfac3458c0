"""``LocalLimiter``: a gateway replica's front to the one ``LimitAuthority``.

It holds, per tenant, a lease (a batch of admissions valid for ``lease_s``) and admits from it without a round
trip; when the lease is spent, expired, or out of concurrency slots it asks the authority for the next one, giving
back what it did not use and reporting the joules and grams it settled since. A refusal is cached until its
``retry_after_s`` (at most one lease period, so a raised limit is seen quickly), so a tenant in overload costs
about two round trips per lease period per replica, not one per request.

Accuracy: every admission a replica makes was granted from the authority's bucket and quotas first, so the total
never exceeds what one process would admit; tokens stranded in an idle replica's lease are given back or lapse
(counted as used) within one lease period. Energy and carbon budgets are checked at lease time: a tenant can
overrun a budget by at most one lease's requests per replica.

Lifecycle per request:
    1. ``admission = limiter.admit(tenant, limits)``; if not ``admission.ok``: raise ``admission.error()`` (429
       with ``admission.headers()``); nothing to settle or release.
    2. run the request (``admission.energy_pressure`` may steer the router to lower-energy tiers).
    3. ``limiter.settle(tenant, energy_j, carbon_g)`` then ``limiter.release(tenant)`` (release also on failure).
On shutdown: ``limiter.flush()`` gives every lease back.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Protocol

from maas.clock import Clock
from maas.metering.limits_types import Admission, Lease, PeriodUsage, TenantLimits

__all__ = ["LeaseSource", "LocalLimiter"]


class LeaseSource(Protocol):
    """What a replica needs of the authority (``LimitAuthority`` itself, or the serving layer's actor proxy)."""

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
    ) -> Lease: ...


@dataclass
class _Local:
    lease_id: int | None = None
    tokens: int = 0
    expires_at_s: float = 0.0
    slots: int | None = None
    in_flight: int = 0
    demand: int = 0  # admit calls since the last lease request
    demand_since_s: float | None = None  # when the last lease request was made (None: never)
    granted_view: Admission | None = None
    denied: Admission | None = None
    denied_until_s: float = 0.0
    energy_j: float = 0.0
    carbon_g: float = 0.0
    limits: TenantLimits | None = None


class LocalLimiter:
    """One per gateway replica; ``holder`` names the replica to the authority. Not thread-safe (one event loop)."""

    def __init__(self, authority: LeaseSource, holder: str, clock: Clock, *, lease_s: float = 1.0) -> None:
        self._authority = authority
        self.holder = holder
        self._clock = clock
        self.lease_s = lease_s
        self._tenants: dict[str, _Local] = {}
        self.round_trips = 0

    def admit(self, tenant: str, limits: TenantLimits) -> Admission:
        """Admit one request from the lease, asking the authority for another when needed."""
        now_s = self._clock.now_s()
        st = self._tenants.setdefault(tenant, _Local())
        st.demand += 1
        if st.denied is not None and now_s < st.denied_until_s:
            retry = st.denied.retry_after_s
            return replace(st.denied, retry_after_s=None if retry is None else st.denied_until_s - now_s)
        usable = st.tokens > 0 and now_s < st.expires_at_s
        has_slot = st.slots is None or st.in_flight < st.slots
        if not (usable and has_slot):
            lease = self._renew(tenant, limits, st, now_s)
            if lease.tokens == 0:
                return lease.admission
        st.tokens -= 1
        st.in_flight += 1
        view = st.granted_view
        assert view is not None
        remaining = None if view.remaining_requests is None else view.remaining_requests + st.tokens
        return replace(view, remaining_requests=remaining)

    def _renew(self, tenant: str, limits: TenantLimits, st: _Local, now_s: float) -> Lease:
        self.round_trips += 1
        st.limits = limits
        want = 1
        if st.demand_since_s is not None:  # the demand rate, over at least a tenth of a lease period
            elapsed_s = max(now_s - st.demand_since_s, self.lease_s / 10)
            want = max(1, math.ceil(st.demand * self.lease_s / elapsed_s))
        lease = self._authority.lease(
            tenant,
            limits,
            self.holder,
            want,
            returned_lease_id=st.lease_id,
            unused=st.tokens,
            in_flight=st.in_flight,
            energy_j=st.energy_j,
            carbon_g=st.carbon_g,
            now_s=now_s,
        )
        st.energy_j = st.carbon_g = 0.0
        st.demand, st.demand_since_s = 0, now_s
        st.lease_id = lease.lease_id if lease.tokens else None
        st.tokens = lease.tokens
        st.expires_at_s = lease.expires_at_s
        st.slots = lease.slots
        if lease.tokens == 0:
            retry = lease.admission.retry_after_s
            if lease.admission.reason != "concurrency":  # a slot may free up locally at any time
                st.denied, st.denied_until_s = lease.admission, now_s + min(retry or self.lease_s, self.lease_s)
        else:
            st.denied, st.granted_view = None, lease.admission
        return lease

    def settle(self, tenant: str, energy_j: float, carbon_g: float) -> None:
        """Record what a finished request cost; reported with the next lease request (or ``flush``)."""
        if energy_j < 0 or carbon_g < 0 or not (math.isfinite(energy_j) and math.isfinite(carbon_g)):
            raise ValueError("energy_j and carbon_g must be finite and >= 0")
        st = self._tenants.setdefault(tenant, _Local())
        st.energy_j += energy_j
        st.carbon_g += carbon_g

    def release(self, tenant: str) -> None:
        """An admitted request finished (whatever its outcome): its concurrency slot is free again."""
        st = self._tenants.get(tenant)
        if st is not None and st.in_flight > 0:
            st.in_flight -= 1

    def energy_pressure(self, tenant: str) -> float:
        """Today's joule-budget fraction as of this replica's last lease (0 before any)."""
        st = self._tenants.get(tenant)
        return 0.0 if st is None or st.granted_view is None else st.granted_view.energy_pressure

    def usage(self, tenant: str) -> PeriodUsage | None:
        """The authority's live day/month counters for ``tenant`` when the lease source can tell them (an
        in-process ``LimitAuthority``), else None, with this replica's view added: the unused tokens of its
        current lease are not counted (they go back with its next lease request; other replicas' count as used
        until given back) and the joules and grams it settled but has not reported yet are."""
        usage = getattr(self._authority, "usage", None)
        if usage is None:
            return None
        now_s = self._clock.now_s()
        counters: PeriodUsage = usage(tenant, now_s)
        st = self._tenants.get(tenant)
        if st is None:
            return counters
        if st.lease_id is not None and st.tokens > 0 and now_s < st.expires_at_s:
            counters.day_requests = max(0, counters.day_requests - st.tokens)
            counters.month_requests = max(0, counters.month_requests - st.tokens)
        counters.day_energy_j += st.energy_j
        counters.month_carbon_g += st.carbon_g
        return counters

    def return_idle(self) -> int:
        """Give back the unused tokens of leases that have run out of time (a tenant that went quiet), before the
        authority's grace ends and it counts them as used; returns how many leases went back. The gateway calls
        it every lease period, so a burst of 3 requests costs 3 of a daily quota, not a whole lease."""
        now_s = self._clock.now_s()
        idle = [t for t, st in self._tenants.items() if st.lease_id is not None and st.tokens > 0
                and now_s >= st.expires_at_s]
        for tenant in idle:
            self._give_back_now(tenant, self._tenants[tenant], now_s)
        return len(idle)

    def _give_back_now(self, tenant: str, st: _Local, now_s: float) -> None:
        self.round_trips += 1
        self._authority.lease(
            tenant,
            st.limits or TenantLimits(),
            self.holder,
            0,
            returned_lease_id=st.lease_id,
            unused=st.tokens,
            in_flight=st.in_flight,
            energy_j=st.energy_j,
            carbon_g=st.carbon_g,
            now_s=now_s,
        )
        st.lease_id, st.tokens, st.energy_j, st.carbon_g = None, 0, 0.0, 0.0

    def flush(self) -> None:
        """Give back every unused token and report pending energy/carbon (shutdown, or a periodic tick)."""
        for tenant, st in self._tenants.items():
            if st.lease_id is None and not (st.energy_j or st.carbon_g):
                continue
            self.round_trips += 1
            self._authority.lease(
                tenant,
                st.limits or TenantLimits(),
                self.holder,
                0,
                returned_lease_id=st.lease_id,
                unused=st.tokens,
                in_flight=st.in_flight,
                energy_j=st.energy_j,
                carbon_g=st.carbon_g,
                now_s=self._clock.now_s(),
            )
            st.lease_id, st.tokens, st.energy_j, st.carbon_g = None, 0, 0.0, 0.0
