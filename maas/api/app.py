"""HTTP shell over the data plane: the Open Inference Protocol (V2) REST endpoints, built by ``create_app``.

Endpoints: GET /v2/health/live, GET /v2/health/ready, GET /v2, GET /v2/models (maas catalog),
POST /v2/repository/index (+ load/unload, POST /admin/models: maas.api.admin_models), GET /v2/models/{m}[/versions/{v}], GET .../ready, POST .../infer.
Every error is ``{"error": "..."}`` with the status its ``MaasError`` carries (see maas.errors).
"""

from __future__ import annotations

import logging
import zlib

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Route

from maas.api.admin import add_admin_routes
from maas.api.admin_faults import add_fault_routes
from maas.api.admin_models import register_model_routes
from maas.api.dataplane import DataPlane
from maas.api.metrics_routes import add_observability_routes
from maas.api.openapi_v2 import document_plain_routes
from maas.api.usage_routes import add_usage_routes
from maas.errors import InvalidInput, MaasError, PayloadTooLarge, QuotaExceeded

__all__ = ["create_app", "read_body"]

log = logging.getLogger(__name__)


def _error(status: int, message: str, **extra: object) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=status)


async def read_body(request: Request, limit_bytes: int) -> bytes:
    """The request body, decompressed (gzip/deflate), never more than ``limit_bytes``: 413 above it."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit_bytes:
        raise PayloadTooLarge(f"request body of {declared} bytes exceeds the limit of {limit_bytes} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit_bytes:
            raise PayloadTooLarge(f"request body exceeds the limit of {limit_bytes} bytes")
        chunks.append(chunk)
    body = b"".join(chunks)
    encoding = request.headers.get("content-encoding", "identity").lower()
    if encoding in ("", "identity"):
        return body
    if encoding not in ("gzip", "deflate"):
        raise InvalidInput(f"Content-Encoding {encoding!r} is not supported (allowed: identity, gzip, deflate)")
    inflater = zlib.decompressobj(wbits=31 if encoding == "gzip" else 15)
    try:
        out = inflater.decompress(body, limit_bytes + 1)
    except zlib.error as exc:
        raise InvalidInput(f"request body is not valid {encoding}: {exc}") from None
    if len(out) > limit_bytes or inflater.unconsumed_tail:
        raise PayloadTooLarge(f"decompressed request body exceeds the limit of {limit_bytes} bytes")
    return out


def plain_headers(scope) -> dict[str, str]:
    """The request's headers as one plain dict, made in one pass (the data plane asks for six of them; each
    ``Headers.get`` scans and decodes the whole list). ASGI names are lower-case; a repeated header keeps its first
    value, as ``Headers.get`` does."""
    out: dict[str, str] = {}
    for key, value in scope["headers"]:
        name = key.decode("latin-1")
        if name not in out:
            out[name] = value.decode("latin-1")
    return out


def create_app(dataplane: DataPlane, *, max_body_bytes: int) -> FastAPI:
    """The V2 REST app for one data plane. No globals: every app has its own state."""
    app = FastAPI(title="maas", version="v2", docs_url="/docs", redoc_url=None)
    app.state.dataplane = dataplane  # per app, for the serving layer's shutdown and for tests

    @app.exception_handler(MaasError)
    async def _maas_error(_: Request, exc: MaasError) -> JSONResponse:
        extra = {"reason": exc.reason} if isinstance(exc, QuotaExceeded) else {}
        response = _error(exc.status, exc.message, **extra)
        if exc.headers:
            response.headers.update(exc.headers)
        return response

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _error(exc.status_code, str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        return _error(400, f"invalid request: {exc.errors()[0].get('msg', 'bad request')}")

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error")
        return _error(500, f"internal error: {type(exc).__name__}")

    @app.get("/v2/health/live")
    async def live() -> dict:
        return {"live": dataplane.live()}

    @app.get("/v2/health/ready")
    async def ready() -> JSONResponse:
        if dataplane.ready():
            return JSONResponse({"ready": True})
        if dataplane.warming():
            return _error(503, "warming up: building the tier workers that run beside the gateway", ready=False)
        return _error(503, "no model is deployed and ready yet", ready=False)

    @app.get("/v2")
    async def server_metadata() -> dict:
        return dataplane.server_metadata()

    def _reader(request: Request):
        return dataplane.reader(request.headers.get("authorization"))

    @app.get("/v2/models")
    async def catalog(request: Request) -> dict:
        return {"models": dataplane.catalog(_reader(request))}

    async def _metadata(request: Request, model: str, version: str | None = None) -> dict:
        return dataplane.model_metadata(model, version, _reader(request))

    async def _ready(request: Request, model: str, version: str | None = None) -> JSONResponse:
        if dataplane.model_ready(model, version, _reader(request)):
            return JSONResponse({"name": model, "ready": True})
        return _error(503, f"model {model!r} is not deployed on any tier yet", name=model, ready=False)

    async def _infer(request: Request) -> Response:
        # A plain Starlette endpoint: the hot path skips FastAPI's per-request dependency solving.
        params = request.path_params
        body = await read_body(request, max_body_bytes)
        result = await dataplane.infer(params["model"], params.get("version"), body, plain_headers(request.scope))
        if result.header_length is None:
            return Response(result.body, media_type="application/json", headers=result.headers)
        return Response(
            result.body,
            media_type="application/octet-stream",
            headers={**result.headers, "Inference-Header-Content-Length": str(result.header_length)},
        )

    app.add_api_route("/v2/models/{model}", _metadata, methods=["GET"])
    app.add_api_route("/v2/models/{model}/versions/{version}", _metadata, methods=["GET"])
    app.add_api_route("/v2/models/{model}/ready", _ready, methods=["GET"])
    app.add_api_route("/v2/models/{model}/versions/{version}/ready", _ready, methods=["GET"])
    app.router.routes.insert(0, Route("/v2/models/{model}/infer", _infer, methods=["POST"]))
    app.router.routes.insert(1, Route("/v2/models/{model}/versions/{version}/infer", _infer, methods=["POST"]))
    register_model_routes(app, dataplane)  # repository index/load/unload, admin push (maas.api.admin_models)
    add_usage_routes(app, dataplane)  # GET /v1/usage (maas.api.usage_routes)
    add_admin_routes(app, dataplane)  # /admin/tenants, /admin/keys, /admin/usage (maas.api.admin)
    add_observability_routes(app, dataplane)  # /metrics, /v2/models/{m}/stats, /ui (maas.api.metrics_routes)
    add_fault_routes(app, dataplane)  # /admin/faults: maas tiers fail|restore (maas.api.admin_faults)
    document_plain_routes(app)  # infer and stats in /openapi.json (maas.api.openapi_v2)
    return app
