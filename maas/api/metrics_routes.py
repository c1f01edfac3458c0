"""Everything an operator looks at, registered on the app in one call from ``create_app``: ``GET /metrics``
(maas.api.metrics), the V2 statistics extension (maas.api.stats) and the status page ``/ui`` (maas.api.ui)."""

from __future__ import annotations

from fastapi import FastAPI

from maas.api.metrics import Metrics, add_metrics_routes
from maas.api.stats import add_stats_routes
from maas.api.ui import add_ui_routes

__all__ = ["add_observability_routes"]


def add_observability_routes(app: FastAPI, dataplane) -> Metrics:
    """Register /metrics, /v2/models/{m}[/versions/{v}]/stats and /ui on ``app``; returns the replica's
    ``Metrics`` (also ``app.state.metrics``; the serving layer calls ``share`` on it with the cluster's
    aggregator)."""
    metrics = add_metrics_routes(app, dataplane)
    add_stats_routes(app, dataplane, metrics)
    add_ui_routes(app, dataplane, metrics)
    return metrics
