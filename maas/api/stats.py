"""The V2 statistics extension in Triton's JSON shape, so ``tritonclient``'s ``get_inference_statistics`` works
unmodified: ``GET /v2/models/stats`` (every model), ``GET /v2/models/{m}/stats`` (every version of m) and
``GET /v2/models/{m}/versions/{v}/stats``.

Figures are the cluster's (summed over gateway replicas like ``/metrics``), cumulative since the replicas
started: ``success`` (count, total end-to-end ns), ``fail`` (failed and refused requests), ``queue`` (time waiting
for a compute slot) and ``compute_infer`` (emulated device time) over successful requests. Every request is one
execution (the tier workers do not batch across requests), so ``execution_count == inference_count``; fields maas
has no figure for (compute_input/output, cache) are zero. Any valid key may read the models its tenant may use.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.routing import Route

from maas.api.metrics import Metrics
from maas.api.metrics_core import Merged

__all__ = ["add_stats_routes", "model_stats"]

_ZERO = {"count": 0, "ns": 0}


def _entry(name: str, version: str, s: list[float] | None) -> dict[str, Any]:
    s = s or [0.0] * 7
    ok, fail = int(s[0]), int(s[2])
    return {
        "name": name,
        "version": version,
        "last_inference": int(s[6]),
        "inference_count": ok,
        "execution_count": ok,
        "inference_stats": {
            "success": {"count": ok, "ns": int(s[1])},
            "fail": {"count": fail, "ns": int(s[3])},
            "queue": {"count": ok, "ns": int(s[4])},
            "compute_input": dict(_ZERO),
            "compute_infer": {"count": ok, "ns": int(s[5])},
            "compute_output": dict(_ZERO),
            "cache_hit": dict(_ZERO),
            "cache_miss": dict(_ZERO),
        },
        "batch_stats": [{"batch_size": 1, "compute_input": dict(_ZERO),
                         "compute_infer": {"count": ok, "ns": int(s[5])}, "compute_output": dict(_ZERO)}] if ok else [],
        "memory_usage": [],
    }


def model_stats(merged: Merged, catalog: list[dict[str, Any]], name: str | None = None,
                version: str | None = None) -> dict[str, Any]:
    """``{"model_stats": [...]}`` for the catalog's models (or one, or one version): the catalog's version of
    each model plus every version that served requests."""
    out = []
    for entry in catalog:
        m = entry["name"]
        if name is not None and m != name:
            continue
        versions = {entry["version"], *(v for (mm, v) in merged.stats if mm == m and v != "none")}
        for v in sorted(versions):
            if version is None or v == version:
                out.append(_entry(m, v, merged.stats.get((m, v))))
    return {"model_stats": out}


def add_stats_routes(app: FastAPI, dataplane, metrics: Metrics) -> None:
    """Register the three statistics routes (``/v2/models/stats`` before ``/v2/models/{model}``)."""

    async def stats(request: Request) -> JSONResponse:
        principal = dataplane.reader(request.headers.get("authorization"))
        name = request.path_params.get("model")
        version = request.path_params.get("version")
        if name is not None:
            dataplane.model_metadata(name, version, principal)  # 403 not for this tenant, 404 unknown
        merged = await metrics.merged()
        return JSONResponse(model_stats(merged, dataplane.catalog(principal), name, version))

    for i, path in enumerate(("/v2/models/stats", "/v2/models/{model}/stats", "/v2/models/{model}/versions/{version}/stats")):
        app.router.routes.insert(i, Route(path, stats, methods=["GET"]))
