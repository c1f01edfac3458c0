"""The cluster's metrics aggregator: a named, detached Ray actor holding the latest cumulative snapshot of every
gateway replica (``maas.api.metrics``), so any replica answering ``GET /metrics`` renders the cluster's totals.

Calls: ``publish`` once a second per replica (and per scrape), ``collect`` per scrape and every few seconds per
replica for the status page's 5-minute window. Snapshots are cumulative, so a lost or repeated call changes
nothing; num_cpus=0, like the limit authority.
"""

from __future__ import annotations

from typing import Any

import ray

__all__ = ["ACTOR_NAME", "MetricsAggregatorActor", "RayMetricsAggregator", "metrics_aggregator"]

ACTOR_NAME = "maas-metrics"
NAMESPACE = "maas"
_MAX_REPLICAS = 1024  # snapshots kept (replicas ever seen); the oldest are dropped beyond it


class MetricsAggregatorActor:
    def __init__(self) -> None:
        self._snapshots: dict[str, dict[str, Any]] = {}

    def publish(self, snapshot: dict[str, Any]) -> None:
        self._snapshots.pop(snapshot["replica"], None)
        self._snapshots[snapshot["replica"]] = snapshot
        while len(self._snapshots) > _MAX_REPLICAS:
            self._snapshots.pop(next(iter(self._snapshots)))

    def collect(self) -> list[dict[str, Any]]:
        return list(self._snapshots.values())


def metrics_aggregator() -> Any:
    """The cluster's aggregator actor, created on first use (named and detached: it outlives any replica)."""
    actor = ray.remote(num_cpus=0)(MetricsAggregatorActor).options(
        name=ACTOR_NAME, namespace=NAMESPACE, lifetime="detached", get_if_exists=True, max_restarts=-1,
        max_task_retries=3,
    )
    return actor.remote()


class RayMetricsAggregator:
    """``maas.api.metrics.MetricsAggregator`` over the actor (awaited in the replica's event loop)."""

    def __init__(self, actor: Any | None = None) -> None:
        self._actor = actor if actor is not None else metrics_aggregator()

    async def publish(self, snapshot: dict[str, Any]) -> None:
        await self._actor.publish.remote(snapshot)

    async def collect(self) -> list[dict[str, Any]]:
        return await self._actor.collect.remote()
