"""The platform's request metrics as plain, mergeable numbers: what one gateway replica counted, and the sum of
several replicas' counts. Transport-free and Ray-free; ``maas.api.metrics`` renders them for Prometheus.

Lifecycle:
1. ``MetricSet.observe(record)`` for every usage record (``ServiceGuard.observers``): counters and histograms
   are cumulative since the replica started (a few dict updates, no locks: one event loop per replica).
2. ``snapshot()`` is a plain, picklable dict of those cumulative values (what a replica publishes).
3. ``merge(snapshots)`` sums counters and histogram buckets over replicas (same bucket bounds everywhere, so
   the merged histogram is exactly the histogram of all requests: its p99 is the cluster's p99 to within a
   bucket) and sums the gauges of snapshots that are still fresh.
4. ``quantile(q, counts)`` is Prometheus's ``histogram_quantile`` (linear inside the bucket).

Metric names follow Prometheus practice: prefix ``maas_``, base units (seconds, joules, grams), ``_total`` on
counters; labels are low-cardinality (model, version, tier, status, reason, part; ``tenant`` only on the
``maas_tenant_*`` usage counters, never key ids).
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Mapping
from typing import Any

from maas.metering.journal import UsageRecord

__all__ = [
    "BUCKETS_S",
    "COUNTERS",
    "HISTOGRAMS",
    "GAUGES",
    "PARTS",
    "MetricSet",
    "merge",
    "quantile",
    "reason_label",
]

# Latency bucket upper bounds in seconds: 0.5 ms .. 10 s, dense where the tiers live (1-300 ms).
BUCKETS_S: tuple[float, ...] = (
    0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.04, 0.05, 0.075, 0.1, 0.15, 0.2,
    0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0,
)
PARTS = ("uplink", "queue", "compute", "downlink", "platform")
REFUSAL_STATUSES = frozenset({401, 403, 429})

# name -> (help, label names)
COUNTERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "maas_requests_total": ("Metered inference requests by outcome (HTTP status).",
                            ("model", "version", "tier", "status")),
    "maas_request_failures_total": ("Requests that failed after admission (not refusals), by reason.",
                                    ("model", "tier", "reason")),
    "maas_refusals_total": ("Requests refused by the service guard (limits 429, tier residency 403), by reason.",
                            ("model", "reason")),
    "maas_deadline_requests_total": ("Successful requests that carried a deadline, by outcome (met, missed).",
                                     ("model", "tier", "outcome")),
    "maas_energy_joules_total": ("Energy of served requests in joules (device + PUE), by tier.", ("model", "tier")),
    "maas_carbon_grams_total": ("Carbon of served requests in grams CO2e, by tier.", ("model", "tier")),
    "maas_request_bytes_total": ("Request and response body bytes.", ("model", "direction")),
    "maas_tenant_requests_total": ("Usage: requests per tenant by status (admin keys count as 'admin').",
                                   ("tenant", "status")),
    "maas_tenant_energy_joules_total": ("Usage: energy per tenant in joules.", ("tenant",)),
    "maas_tenant_carbon_grams_total": ("Usage: carbon per tenant in grams CO2e.", ("tenant",)),
}
HISTOGRAMS: dict[str, tuple[str, tuple[str, ...]]] = {
    "maas_request_duration_seconds": ("End-to-end latency of successful requests (the response's latency_ms).",
                                      ("model", "tier")),
    "maas_request_part_duration_seconds": ("Latency of successful requests by part (uplink, queue, compute, "
                                           "downlink, platform).", ("model", "tier", "part")),
}
GAUGES: dict[str, tuple[str, tuple[str, ...]]] = {
    "maas_in_flight_requests": ("Requests dispatched to a (model, tier) and not yet answered, summed over "
                                "gateway replicas.", ("model", "tier")),
    "maas_queue_depth_requests": ("Requests waiting for a compute slot of a (model, tier): in flight beyond the "
                                  "tier's slots, as the router sees it, summed over gateway replicas.",
                                  ("model", "tier")),
    "maas_active_slots": ("Compute slots serving a (model, tier) as the router sees them (autoscaling moves them "
                          "between the tier's minimum and its slots), summed over gateway replicas.",
                          ("model", "tier")),
}
_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


def reason_label(reason: str | None) -> str:
    """A low-cardinality label from a record's reason: exception names in snake case, limiter reasons as is."""
    if not reason:
        return "none"
    return _CAMEL.sub("_", reason).lower()


def _tenant_label(tenant: str) -> str:
    return "admin" if tenant.startswith("admin:") else tenant  # admin tenants carry a key id: never a label


class MetricSet:
    """One replica's cumulative counters, histograms and per-(model, version) statistics."""

    def __init__(self) -> None:
        self.counters: dict[tuple[str, tuple[str, ...]], float] = {}
        self.histograms: dict[tuple[str, tuple[str, ...]], list] = {}  # [bucket counts (+Inf last), sum_s, count]
        # (model, version) -> [success n, success ns, fail n, fail ns, queue ns, compute ns, last inference ms]
        self.stats: dict[tuple[str, str], list[float]] = {}

    def inc(self, name: str, labels: tuple[str, ...], value: float = 1.0) -> None:
        key = (name, labels)
        self.counters[key] = self.counters.get(key, 0.0) + value

    def observe_s(self, name: str, labels: tuple[str, ...], value_s: float) -> None:
        key = (name, labels)
        h = self.histograms.get(key)
        if h is None:
            h = self.histograms[key] = [[0] * (len(BUCKETS_S) + 1), 0.0, 0]
        h[0][bisect.bisect_left(BUCKETS_S, value_s)] += 1
        h[1] += value_s
        h[2] += 1

    def observe(self, record: UsageRecord) -> None:
        """Count one usage record (``ServiceGuard.observers`` calls this for every request)."""
        model, tier, status = record.model, record.tier or "none", record.status
        version = record.version or "none"
        self.inc("maas_requests_total", (model, version, tier, str(status)))
        self.inc("maas_tenant_requests_total", (_tenant_label(record.tenant), str(status)))
        stats = self.stats.get((model, version))
        if stats is None:
            stats = self.stats[(model, version)] = [0.0] * 7
        stats[6] = record.time_s * 1e3
        if record.bytes_in:
            self.inc("maas_request_bytes_total", (model, "in"), record.bytes_in)
        if record.bytes_out:
            self.inc("maas_request_bytes_total", (model, "out"), record.bytes_out)
        if status >= 300:
            if status in REFUSAL_STATUSES:
                self.inc("maas_refusals_total", (model, reason_label(record.reason)))
            else:
                self.inc("maas_request_failures_total", (model, tier, reason_label(record.reason)))
            stats[2] += 1
            stats[3] += (record.latency_ms or 0.0) * 1e6
            return
        labels = (model, tier)
        if record.latency_ms is not None:
            self.observe_s("maas_request_duration_seconds", labels, record.latency_ms / 1e3)
            stats[0] += 1
            stats[1] += record.latency_ms * 1e6
        for part in PARTS:
            value_ms = getattr(record, f"{part}_ms")
            if value_ms is not None:
                self.observe_s("maas_request_part_duration_seconds", (model, tier, part), value_ms / 1e3)
        stats[4] += (record.queue_ms or 0.0) * 1e6
        stats[5] += (record.compute_ms or 0.0) * 1e6
        if record.deadline_met is not None:
            self.inc("maas_deadline_requests_total", (model, tier, "met" if record.deadline_met else "missed"))
        self.inc("maas_energy_joules_total", labels, record.energy_j)
        self.inc("maas_carbon_grams_total", labels, record.carbon_g)
        tenant = _tenant_label(record.tenant)
        self.inc("maas_tenant_energy_joules_total", (tenant,), record.energy_j)
        self.inc("maas_tenant_carbon_grams_total", (tenant,), record.carbon_g)

    def snapshot(self, replica: str, time_s: float,
                 gauges: Mapping[tuple[str, tuple[str, ...]], float] | None = None) -> dict[str, Any]:
        """Plain, picklable cumulative values (lists, not tuples as keys), with this replica's current gauges."""
        return {
            "replica": replica,
            "time_s": time_s,
            "counters": [[n, list(lab), v] for (n, lab), v in self.counters.items()],
            "histograms": [[n, list(lab), list(h[0]), h[1], h[2]] for (n, lab), h in self.histograms.items()],
            "gauges": [[n, list(lab), v] for (n, lab), v in (gauges or {}).items()],
            "stats": [[m, v, list(s)] for (m, v), s in self.stats.items()],
        }


class Merged:
    """The sum of several replicas' snapshots (keys are (name, label tuple))."""

    def __init__(self) -> None:
        self.counters: dict[tuple[str, tuple[str, ...]], float] = {}
        self.histograms: dict[tuple[str, tuple[str, ...]], list] = {}
        self.gauges: dict[tuple[str, tuple[str, ...]], float] = {}
        self.stats: dict[tuple[str, str], list[float]] = {}
        self.replicas = 0  # replicas heard from recently (whose gauges count)

    def counter(self, name: str, where: Mapping[int, str] | None = None) -> float:
        """Sum of counter ``name`` over label values matching ``where`` (label position -> value)."""
        return sum(v for (n, lab), v in self.counters.items() if n == name and _match(lab, where))

    def histogram(self, name: str, where: Mapping[int, str] | None = None) -> tuple[list[int], float, int]:
        counts, total_s, n = [0] * (len(BUCKETS_S) + 1), 0.0, 0
        for (hn, lab), h in self.histograms.items():
            if hn == name and _match(lab, where):
                counts = [a + b for a, b in zip(counts, h[0], strict=True)]
                total_s += h[1]
                n += h[2]
        return counts, total_s, n

    def gauge(self, name: str, where: Mapping[int, str] | None = None) -> float:
        return sum(v for (n, lab), v in self.gauges.items() if n == name and _match(lab, where))


def _match(labels: tuple[str, ...], where: Mapping[int, str] | None) -> bool:
    return where is None or all(labels[i] == v for i, v in where.items())


def merge(snapshots: Iterable[Mapping[str, Any]], *, now_s: float | None = None, gauge_ttl_s: float = 15.0) -> Merged:
    """Sum cumulative snapshots of several replicas; gauges only from snapshots younger than ``gauge_ttl_s``
    (a replica that is gone keeps its counts, never its in-flight requests)."""
    out = Merged()
    for snap in snapshots:
        for name, labels, value in snap["counters"]:
            key = (name, tuple(labels))
            out.counters[key] = out.counters.get(key, 0.0) + value
        for name, labels, counts, total_s, n in snap["histograms"]:
            key = (name, tuple(labels))
            h = out.histograms.get(key)
            if h is None:
                out.histograms[key] = [list(counts), total_s, n]
            else:
                h[0] = [a + b for a, b in zip(h[0], counts, strict=True)]
                h[1] += total_s
                h[2] += n
        for model, version, values in snap.get("stats", ()):
            s = out.stats.setdefault((model, version), [0.0] * 7)
            for i in range(6):
                s[i] += values[i]
            s[6] = max(s[6], values[6])
        if now_s is None or now_s - snap["time_s"] <= gauge_ttl_s:
            out.replicas += 1
            for name, labels, value in snap["gauges"]:
                key = (name, tuple(labels))
                out.gauges[key] = out.gauges.get(key, 0.0) + value
    return out


def quantile(q: float, counts: list[int]) -> float | None:
    """Prometheus's ``histogram_quantile`` over non-cumulative bucket ``counts`` (bounds ``BUCKETS_S``, +Inf
    last): linear interpolation inside the bucket holding rank q*n; the highest finite bound if it is in +Inf."""
    n = sum(counts)
    if n == 0:
        return None
    rank = q * n
    seen = 0
    for i, c in enumerate(counts):
        if seen + c >= rank and c > 0:
            if i == len(BUCKETS_S):
                return BUCKETS_S[-1]
            lo = 0.0 if i == 0 else BUCKETS_S[i - 1]
            return lo + (BUCKETS_S[i] - lo) * (rank - seen) / c
        seen += c
    return BUCKETS_S[-1]
