"""OpenAPI entries for the routes served as plain Starlette endpoints (kept off FastAPI's per-request dependency
solving): V2 ``infer`` (JSON body; the binary extension is ``application/octet-stream`` with the
``Inference-Header-Content-Length`` header) and the V2 statistics extension, plus the bearer-key security scheme.

``document_plain_routes(app)`` wraps ``app.openapi`` so ``/openapi.json`` describes every route clients (and the
fuzzer, ``make fuzz``) can call. Nothing here changes how a request is served.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from maas.models.manifest import V2_DATATYPES

__all__ = ["document_plain_routes", "INFER_REQUEST_SCHEMA"]

_ERROR = {"type": "object", "properties": {"error": {"type": "string"}}, "required": ["error"]}
_PARAMS = {
    "type": "object",
    "description": "request-level parameters: routing hints (deadline_ms, objective, priority, site, tier, "
    "strict) and binary_data_output",
    "additionalProperties": True,
}
_TENSOR = {
    "type": "object",
    "required": ["name", "shape", "datatype", "data"],
    "properties": {
        "name": {"type": "string"},
        "shape": {"type": "array", "items": {"type": "integer"}},
        "datatype": {"type": "string", "enum": [*V2_DATATYPES, "BF16"]},
        "parameters": {"type": "object", "additionalProperties": True},
        "data": {"type": "array", "items": {}},
    },
}
INFER_REQUEST_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["inputs"],
    "properties": {
        "id": {"type": "string"},
        "parameters": _PARAMS,
        "inputs": {"type": "array", "items": _TENSOR},
        "outputs": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name"],
                "properties": {"name": {"type": "string"}, "parameters": {"type": "object"}},
            },
        },
    },
}


def _path_param(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}


def _responses(ok: str) -> dict[str, Any]:
    err = {"content": {"application/json": {"schema": _ERROR}}}
    out: dict[str, Any] = {"200": {"description": ok, "content": {"application/json": {"schema": {"type": "object"}}}}}
    for code, what in (("400", "invalid input"), ("401", "no or bad API key"), ("403", "not allowed"),
                       ("404", "unknown model"), ("413", "body too large"), ("429", "quota or rate limit"),
                       ("503", "no tier can take it now, or overloaded (Retry-After)")):
        out[code] = {"description": what, **err}
    return out


def _infer(params: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "post": {
            "summary": "V2 inference (JSON, or the binary tensor extension)",
            "operationId": "infer" + ("_version" if len(params) > 1 else ""),
            "parameters": [
                *params,
                {"name": "Inference-Header-Content-Length", "in": "header", "required": False,
                 "schema": {"type": "integer", "minimum": 0}},
            ],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {"schema": INFER_REQUEST_SCHEMA},
                    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
                },
            },
            "responses": _responses("the outputs and what happened (tier, latency parts, energy)"),
        }
    }


def _stats(params: list[dict[str, Any]], op: str) -> dict[str, Any]:
    return {"get": {"summary": "V2 statistics extension", "operationId": op, "parameters": params,
                    "responses": _responses("inference statistics")}}


def document_plain_routes(app: FastAPI) -> None:
    """Add the plain routes and the bearer scheme to ``app``'s OpenAPI document (built once, on first request)."""
    base = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        doc = base()
        m, v = _path_param("model"), _path_param("version")
        paths = doc.setdefault("paths", {})
        paths.setdefault("/v2/models/{model}/infer", _infer([m]))
        paths.setdefault("/v2/models/{model}/versions/{version}/infer", _infer([m, v]))
        paths.setdefault("/v2/models/stats", _stats([], "stats_all"))
        paths.setdefault("/v2/models/{model}/stats", _stats([m], "stats_model"))
        paths.setdefault("/v2/models/{model}/versions/{version}/stats", _stats([m, v], "stats_version"))
        components = doc.setdefault("components", {})
        components.setdefault("securitySchemes", {})["bearer"] = {"type": "http", "scheme": "bearer"}
        doc.setdefault("security", [{"bearer": []}, {}])
        app.openapi_schema = doc
        return doc

    app.openapi = openapi  # type: ignore[method-assign]
