"""``GET /metrics``: Prometheus text for the whole platform from one scrape, whichever gateway replica answers.

Aggregation (why and how): every request passes through a gateway replica, which sees its usage record (status,
tier, latency and its parts, energy, carbon; ``ServiceGuard.observers``), so the gateway replicas together see
all tier work too. Each replica counts into its own ``MetricSet`` (cumulative, lock-free, a few dict updates per
request) and publishes the cumulative snapshot to one ``MetricsAggregator`` every ``push_interval_s`` (1 s) and
whenever it is scraped; the scraped replica sums the latest snapshot of every replica (``merge``: counters and
histogram buckets add up exactly, gauges only from replicas heard from within 15 s). On the cluster the
aggregator is a named, detached Ray actor (``maas.serving.metrics_actor``): it works across nodes, unlike
prometheus-client's multiprocess mode (one node, one shared directory), and unlike Ray Serve's own metrics it
needs one scrape target, not one per node. A replica that dies keeps its counts in the aggregator (totals never
go back); a restarted aggregator loses dead replicas' counts once (Prometheus's ``rate`` treats it as a counter
reset). Without a cluster (unit tests, one process) a ``LocalAggregator`` does the same in memory.

Scrape-time gauges come from the answering replica's placement state: tier availability at the topology's
default site, the serving satellite's battery there, and the number of replicas heard from.

Auth: with API keys on (``MAAS_AUTH``, the default) ``/metrics`` needs an admin key (``Authorization: Bearer
maas_...``; Prometheus: ``authorization: {type: Bearer, credentials_file: <data_dir>/admin.key}``): the tenant
usage counters are business data. With auth off it is open, like the health endpoints.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections import deque
from typing import Any, Protocol

from fastapi import FastAPI, Request
from fastapi.responses import Response
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

from maas.api.metrics_core import BUCKETS_S, COUNTERS, GAUGES, HISTOGRAMS, Merged, MetricSet, merge
from maas.errors import Forbidden
from maas.placement.observe import in_flight, satellite_battery, tier_status

__all__ = ["MetricsAggregator", "LocalAggregator", "Metrics", "add_metrics_routes", "require_admin", "render"]

log = logging.getLogger(__name__)

WINDOW_S = 300.0  # "the last 5 minutes" of the status page and maas top


class MetricsAggregator(Protocol):
    """Where replicas' cumulative snapshots meet (one per cluster)."""

    async def publish(self, snapshot: dict[str, Any]) -> None:
        """Keep ``snapshot`` as the latest of its replica (``snapshot["replica"]``)."""
        ...

    async def collect(self) -> list[dict[str, Any]]:
        """The latest snapshot of every replica that ever published."""
        ...


class LocalAggregator:
    """``MetricsAggregator`` in memory: one process (tests, a gateway without a cluster)."""

    def __init__(self) -> None:
        self._snapshots: dict[str, dict[str, Any]] = {}

    async def publish(self, snapshot: dict[str, Any]) -> None:
        self._snapshots[snapshot["replica"]] = snapshot

    async def collect(self) -> list[dict[str, Any]]:
        return list(self._snapshots.values())


def require_admin(dataplane, request: Request) -> None:
    """403 for a tenant key, 401 without a valid key (auth on); nothing with auth off."""
    principal = dataplane.service.authenticate(request.headers.get("authorization"))
    if principal is not None and not principal.is_admin:
        raise Forbidden(f"key {principal.key_id} is a tenant key; this endpoint needs an admin key")


class Metrics:
    """One gateway replica's metrics: its counts, its live gauges, and the cluster's sum through the aggregator.

    Lifecycle: built by ``add_metrics_routes`` (observes every usage record from then on); ``share(aggregator)``
    on the cluster (before the app starts: the app's startup starts the periodic push); ``merged()`` per scrape.
    """

    def __init__(self, dataplane, aggregator: MetricsAggregator | None = None, *, replica: str | None = None,
                 push_interval_s: float = 1.0, history_step_s: float = 5.0) -> None:
        self.set = MetricSet()
        self.clock = dataplane.service.clock
        self.placer = dataplane._placer
        self.aggregator: MetricsAggregator = aggregator or LocalAggregator()
        self.replica = replica or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.push_interval_s = push_interval_s
        self.history_step_s = history_step_s
        self.shared = False
        self.history: deque[tuple[float, Merged]] = deque([(self.clock.now_s(), Merged())])
        self._task: asyncio.Task | None = None

    def observe(self, record) -> None:
        self.set.observe(record)

    def share(self, aggregator: MetricsAggregator) -> None:
        """Publish to ``aggregator`` (the cluster's) and push periodically once the app has started."""
        self.aggregator = aggregator
        self.shared = True

    def gauges(self) -> dict[tuple[str, tuple[str, ...]], float]:
        """This replica's in-flight requests and queue depth per (model, tier)."""
        out: dict[tuple[str, tuple[str, ...]], float] = {}
        for (model, tier), (n, slots) in in_flight(self.placer).items():
            out[("maas_in_flight_requests", (model, tier))] = float(n)
            out[("maas_queue_depth_requests", (model, tier))] = float(max(0, n - slots))
            out[("maas_active_slots", (model, tier))] = float(slots)
        return out

    def snapshot(self) -> dict[str, Any]:
        return self.set.snapshot(self.replica, self.clock.now_s(), self.gauges())

    async def publish(self) -> None:
        await self.aggregator.publish(self.snapshot())

    async def merged(self) -> Merged:
        """The sum over every replica, this one fresh; remembered for the status page's 5-minute window."""
        await self.publish()
        now = self.clock.now_s()
        out = merge(await self.aggregator.collect(), now_s=now)
        if now - self.history[-1][0] >= self.history_step_s:
            self.history.append((now, out))
            while len(self.history) > 2 and self.history[1][0] <= now - WINDOW_S:
                self.history.popleft()
        return out

    def window_base(self, now_s: float) -> tuple[float, Merged]:
        """The remembered sum closest to (not after) ``WINDOW_S`` ago, else the oldest: (its time, the sum)."""
        base = self.history[0]
        for t, m in self.history:
            if t <= now_s - WINDOW_S:
                base = (t, m)
        return base

    # -- periodic push (cluster) ------------------------------------------------------------------------------
    async def start(self) -> None:
        if self.shared and self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._push_loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None

    async def _push_loop(self) -> None:
        last_history = self.clock.now_s()
        while True:
            await asyncio.sleep(self.push_interval_s)
            try:
                if self.clock.now_s() - last_history >= self.history_step_s:
                    last_history = self.clock.now_s()
                    await self.merged()
                else:
                    await self.publish()
            except Exception:  # the aggregator may be restarting: the next round publishes the same totals
                log.warning("metrics push failed", exc_info=True)


class _Collector:
    def __init__(self, merged: Merged, scrape_gauges: list[GaugeMetricFamily]) -> None:
        self.merged = merged
        self.scrape_gauges = scrape_gauges

    def collect(self):
        m = self.merged
        for name, (doc, labels) in COUNTERS.items():
            family = CounterMetricFamily(name, doc, labels=list(labels))
            for (n, values), v in sorted(m.counters.items()):
                if n == name:
                    family.add_metric(list(values), v)
            yield family
        for name, (doc, labels) in HISTOGRAMS.items():
            family = HistogramMetricFamily(name, doc, labels=list(labels))
            for (n, values), (counts, total_s, _) in sorted(m.histograms.items()):
                if n == name:
                    cumulative, running = [], 0
                    for bound, c in zip((*BUCKETS_S, float("inf")), counts, strict=True):
                        running += c
                        cumulative.append(("+Inf" if bound == float("inf") else repr(bound), running))
                    family.add_metric(list(values), buckets=cumulative, sum_value=total_s)
            yield family
        for name, (doc, labels) in GAUGES.items():
            family = GaugeMetricFamily(name, doc, labels=list(labels))
            for (n, values), v in sorted(m.gauges.items()):
                if n == name:
                    family.add_metric(list(values), v)
            yield family
        yield from self.scrape_gauges


def scrape_gauges(metrics: Metrics, merged: Merged) -> list[GaugeMetricFamily]:
    """Gauges read at scrape time from this replica's placement state (default site)."""
    placer, now = metrics.placer, metrics.clock.now_s()
    site = placer.default_site
    available = GaugeMetricFamily("maas_tier_available", "1 if the tier can take requests from the site now, "
                                  "else 0 (no contact, battery reserve, grid outage, maintenance).",
                                  labels=["tier", "site"])
    for t in tier_status(placer, site, now):
        available.add_metric([t["tier"], site], 1.0 if t["available"] else 0.0)
    out = [available]
    battery = satellite_battery(placer, site, now)
    if battery is not None:
        contact = GaugeMetricFamily("maas_satellite_in_contact", "1 if a satellite serves the site now.",
                                    labels=["site"])
        contact.add_metric([site], 1.0 if battery["in_contact"] else 0.0)
        out.append(contact)
        if battery["in_contact"]:
            soc = GaugeMetricFamily("maas_satellite_battery_state_of_charge_ratio",
                                    "State of charge (0..1) of the satellite serving the site now.", labels=["site"])
            soc.add_metric([site], battery["soc_ratio"])
            joules = GaugeMetricFamily("maas_satellite_battery_joules",
                                       "Charge in joules of the satellite serving the site now.", labels=["site"])
            joules.add_metric([site], battery["soc_j"])
            out += [soc, joules]
    replicas = GaugeMetricFamily("maas_gateway_replicas", "Gateway replicas heard from within the last 15 s (the "
                                 "scrape sums the counts of every replica that ever published).")
    replicas.add_metric([], float(merged.replicas))
    out.append(replicas)
    return out


def render(merged: Merged, extra: list[GaugeMetricFamily] | None = None) -> bytes:
    """Prometheus text format (0.0.4) of ``merged`` and any extra gauges."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Collector(merged, extra or []))
    return generate_latest(registry)


def add_metrics_routes(app: FastAPI, dataplane, aggregator: MetricsAggregator | None = None) -> Metrics:
    """Observe ``dataplane``'s usage records and serve ``GET /metrics``; the ``Metrics`` is ``app.state.metrics``.

    ``GET /metrics``: Prometheus text, the sum over all gateway replicas (see the module docstring). Needs an
    admin key when auth is on (Prometheus: a bearer ``credentials_file`` holding ``<data_dir>/admin.key``).
    """
    metrics = Metrics(dataplane, aggregator)
    dataplane.service.observers.append(metrics.observe)
    app.state.metrics = metrics
    inner = app.router.lifespan_context  # Starlette 1.x has no add_event_handler: wrap the lifespan

    @contextlib.asynccontextmanager
    async def lifespan(a):
        async with inner(a) as state:
            await metrics.start()
            try:
                yield state
            finally:
                await metrics.stop()

    app.router.lifespan_context = lifespan

    @app.get("/metrics", include_in_schema=False)
    async def prometheus_metrics(request: Request) -> Response:
        require_admin(dataplane, request)
        merged = await metrics.merged()
        return Response(render(merged, scrape_gauges(metrics, merged)), media_type=CONTENT_TYPE_PLAIN_0_0_4)

    return metrics
