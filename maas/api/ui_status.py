"""The status document behind ``/ui`` and ``maas top``: tiers at a glance, per tier over the last 5 minutes
(request share, p50/p99 latency, energy and carbon per request, queue depth), the satellite tier at a site
(serving satellite and battery now; contact windows, eclipses and the battery curve ahead), the deployments and
their rollouts (stable and canary versions, the canary's share, satellite uplinks with bytes and ETA: read from the
database in a worker thread by ``rollout_source``, at most every ``ROLLOUTS_REFRESH_S``).

Window figures are differences of the cluster's cumulative sums (``Metrics.merged``) against the sum remembered
closest to 5 minutes ago (or the oldest one, so a young platform shows "since start": ``window_s`` says which).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from maas.api.metrics import Metrics
from maas.api.metrics_core import Merged, quantile
from maas.placement.observe import iso_utc, satellite_battery, satellite_outlook, satellite_sites, tier_status

__all__ = ["StatusBuilder", "OUTLOOK_REFRESH_S", "ROLLOUTS_REFRESH_S", "SITE_LIST_MAX"]

OUTLOOK_REFRESH_S = 30.0
ROLLOUTS_REFRESH_S = 5.0
SITE_LIST_MAX = 50


def _ms(value_s: float | None) -> float | None:
    return None if value_s is None else round(value_s * 1e3, 3)


def _tier_window(now: Merged, base: Merged, tier: str) -> dict[str, Any]:
    where_ok = {2: tier, 3: "200"}
    requests = now.counter("maas_requests_total", where_ok) - base.counter("maas_requests_total", where_ok)
    all_statuses = now.counter("maas_requests_total", {2: tier}) - base.counter("maas_requests_total", {2: tier})
    counts_now = now.histogram("maas_request_duration_seconds", {1: tier})[0]
    counts_base = base.histogram("maas_request_duration_seconds", {1: tier})[0]
    counts = [max(0, a - b) for a, b in zip(counts_now, counts_base, strict=True)]
    energy_j = now.counter("maas_energy_joules_total", {1: tier}) - base.counter("maas_energy_joules_total", {1: tier})
    carbon_g = now.counter("maas_carbon_grams_total", {1: tier}) - base.counter("maas_carbon_grams_total", {1: tier})
    n = max(requests, 0.0)
    return {
        "requests": int(n),
        "failed": int(max(all_statuses - requests, 0.0)),
        "p50_ms": _ms(quantile(0.5, counts)),
        "p99_ms": _ms(quantile(0.99, counts)),
        "energy_j_per_request": round(energy_j / n, 6) if n else None,
        "carbon_g_per_request": round(carbon_g / n, 9) if n else None,
        "requests_total": int(now.counter("maas_requests_total", where_ok)),
        "queue_depth": now.gauge("maas_queue_depth_requests", {1: tier}),
        "in_flight": now.gauge("maas_in_flight_requests", {1: tier}),
    }


class StatusBuilder:
    """Builds the status document for one replica's ``Metrics`` and data plane (caches the satellite outlook)."""

    def __init__(self, metrics: Metrics, dataplane, rollout_source: Callable[[], list[dict]] | None = None) -> None:
        self.metrics = metrics
        self.dataplane = dataplane
        self.rollout_source = rollout_source  # the gateway sets it (RolloutWatcher.summary); None: no rollouts shown
        self._outlook: dict[str, tuple[float, dict[str, Any] | None]] = {}
        self._rollouts: tuple[float, list[dict]] | None = None

    async def rollouts(self, now_s: float) -> list[dict]:
        """The rollouts, read in a worker thread at most every ``ROLLOUTS_REFRESH_S`` (the last ones if it fails)."""
        if self.rollout_source is None:
            return []
        cached = self._rollouts
        if cached is None or not 0 <= now_s - cached[0] < ROLLOUTS_REFRESH_S:
            try:
                cached = self._rollouts = (now_s, await asyncio.to_thread(self.rollout_source))
            except Exception:  # the database may be busy: the page keeps the last rollouts it had
                if cached is None:
                    return []
        return cached[1]

    @property
    def placer(self):
        return self.metrics.placer

    def sites(self) -> list[str]:
        return satellite_sites(self.placer, SITE_LIST_MAX)

    def outlook(self, site: str, now_s: float) -> dict[str, Any] | None:
        cached = self._outlook.get(site)
        if cached is None or now_s - cached[0] >= OUTLOOK_REFRESH_S or now_s < cached[0]:
            cached = self._outlook[site] = (now_s, satellite_outlook(self.placer, site, now_s))
            if len(self._outlook) > SITE_LIST_MAX:
                self._outlook.pop(next(iter(self._outlook)))
        return cached[1]

    async def status(self, site: str | None = None) -> dict[str, Any]:
        """The whole document (admins, or everyone with auth off)."""
        merged = await self.metrics.merged()
        now_s = self.metrics.clock.now_s()
        base_t, base = self.metrics.window_base(now_s)
        site = site or self.placer.default_site
        tiers = []
        served = 0
        in_process = self.dataplane.in_process()
        tiers_in_process = {ref.rpartition("@")[2] for ref in in_process}
        for t in tier_status(self.placer, site, now_s):
            t.update(_tier_window(merged, base, t["tier"]))
            t["hop"] = "in-process" if t["tier"] in tiers_in_process else "ray"  # beside the gateway, or over Ray
            served += t["requests"]
            tiers.append(t)
        for t in tiers:
            t["share"] = round(t["requests"] / served, 4) if served else 0.0
        return {
            "time_s": now_s,
            "time": iso_utc(now_s),
            "window_s": round(now_s - base_t, 1),
            "replicas": merged.replicas,
            "site": site,
            "sites": self.sites(),
            "totals": {
                "requests": int(merged.counter("maas_requests_total")),
                "served": int(merged.counter("maas_requests_total", {3: "200"})),
                "failures": int(merged.counter("maas_request_failures_total")),
                "refusals": int(merged.counter("maas_refusals_total")),
                "energy_j": round(merged.counter("maas_energy_joules_total"), 6),
                "carbon_g": round(merged.counter("maas_carbon_grams_total"), 6),
                "window_requests": served,
            },
            "tiers": tiers,
            "satellite": {"now": satellite_battery(self.placer, site, now_s), "outlook": self.outlook(site, now_s)},
            "deployments": self.dataplane.catalog(None),
            "in_process": in_process,  # model:version@tier workers beside this gateway
            "rollouts": await self.rollouts(now_s),
        }
