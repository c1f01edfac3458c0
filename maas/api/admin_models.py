"""Model management over HTTP, for a remote operator: the V2 model repository extension and an admin push.

- ``POST /v2/repository/index``: every registered version with its state (``READY`` when routed on some tier,
  ``UNAVAILABLE`` otherwise) and the tiers it serves on; any valid key (Triton's index, so tritonclient's
  ``get_model_repository_index`` works unmodified).
- ``POST /v2/repository/models/{m}/load`` / ``unload`` (admin key): deploy the newest version (or
  ``parameters.config`` = JSON ``{"version": V, "tiers": [...]}``) like ``maas deploy``, or remove every
  deployment of the model (tritonclient's ``load_model`` / ``unload_model``).
- ``POST /admin/models?name=N[&version=V][&description=...]`` (admin key): the ONNX file as the raw body or as
  the ``file`` part of a multipart form (form fields ``name``, ``version``, ``description`` also accepted); the
  same checks and errors as ``maas models push`` (201 registered, 200 same bytes again).
The Ray side (load/unload) is ``app.state.model_control`` (``maas.serving.model_control``); without it (no
cluster) load and unload answer 503. Registered from ``create_app`` by ``register_model_routes``.
"""

from __future__ import annotations

import asyncio
import email.parser
import email.policy
import json
import tempfile
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from maas.errors import Forbidden, InvalidInput, NotReady
from maas.registry import open_registry
from maas.registry.records import PushResult

__all__ = ["register_model_routes", "parse_push_body"]


def _admin(dataplane, request: Request) -> None:
    principal = dataplane.service.authenticate(request.headers.get("authorization"))
    if principal is not None and not principal.is_admin:
        raise Forbidden("this endpoint needs an admin key")


def _control(request: Request):
    control = getattr(request.app.state, "model_control", None)
    if control is None:
        raise NotReady("model load/unload needs the platform's Ray cluster (this gateway runs without one)")
    return control


def parse_push_body(body: bytes, content_type: str, query: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    """The ONNX bytes and the fields (name, version, description) of a raw or multipart push body."""
    fields = {k: v for k, v in query.items() if k in ("name", "version", "description")}
    if not content_type.lower().startswith("multipart/form-data"):
        return body, fields
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
    )
    data = None
    for part in message.iter_parts():
        field = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True) or b""
        if field == "file":
            data = payload
        elif field in ("name", "version", "description"):
            fields.setdefault(field, payload.decode("utf-8"))
    if data is None:
        raise InvalidInput("file: the multipart form has no 'file' part (the ONNX model)")
    return data, fields


def _push(settings, data: bytes, fields: dict[str, str]) -> PushResult:
    name = fields.get("name")
    if not name:
        raise InvalidInput("name: missing (give ?name=NAME or a 'name' form field)")
    raw_version = fields.get("version")
    if raw_version is not None and not raw_version.isdigit():
        raise InvalidInput(f"version: {raw_version!r} is not a version (allowed: an integer >= 1)")
    registry = open_registry(settings)
    try:
        with tempfile.TemporaryDirectory(prefix="maas-push-") as tmp:
            path = Path(tmp) / f"{name}.onnx"
            path.write_bytes(data)
            return registry.push(path, name, int(raw_version) if raw_version else None, fields.get("description"))
    finally:
        registry.engine.dispose()


def _index(dataplane, principal) -> list[dict[str, Any]]:
    versions = dataplane.versions
    tenant = None if principal is None else principal.tenant
    allowed = None if tenant is None else tenant.allowed_models
    out = []
    for m in dataplane._catalog.manifests():
        if allowed is not None and m.name not in allowed:
            continue
        tiers = versions.version_tiers(m.name).get(int(m.version), []) if versions is not None and m.version.isdigit() \
            else dataplane._deployed().get(m.name, [])
        entry = {"name": m.name, "version": m.version, "state": "READY" if tiers else "UNAVAILABLE", "tiers": tiers}
        if not tiers:
            entry["reason"] = "not deployed on any tier"
        out.append(entry)
    return out


def register_model_routes(app: FastAPI, dataplane) -> None:
    """Add the repository extension and the admin push to ``app`` (one data plane's)."""
    settings = dataplane._settings
    from maas.api.app import read_body  # the shell's body reader (size limit, gzip)

    @app.post("/v2/repository/index")
    async def repository_index(request: Request) -> list:
        principal = dataplane.reader(request.headers.get("authorization"))
        if dataplane.versions is not None:
            dataplane.versions.refresh()
        return _index(dataplane, principal)

    async def _load_params(request: Request) -> dict[str, Any]:
        body = await read_body(request, 1024 * 1024)
        if not body.strip():
            return {}
        try:
            raw = json.loads(body)
            config = (raw.get("parameters") or {}).get("config")
            return json.loads(config) if isinstance(config, str) else (config or {})
        except (ValueError, AttributeError):
            raise InvalidInput("load: body must be {} or {\"parameters\": {\"config\": \"<JSON>\"}}") from None

    @app.post("/v2/repository/models/{model}/load")
    async def load(model: str, request: Request) -> JSONResponse:
        _admin(dataplane, request)
        config = await _load_params(request)
        version = config.get("version")
        if version is not None and (not str(version).isdigit() or int(version) < 1):
            raise InvalidInput(f"config.version: {version!r} (allowed: an integer >= 1)")
        tiers = config.get("tiers")
        if tiers is not None and (not isinstance(tiers, list) or not all(isinstance(t, str) for t in tiers)):
            raise InvalidInput(f"config.tiers: {tiers!r} (allowed: a list of tier names)")
        control = _control(request)
        state = await asyncio.to_thread(control.load, model, None if version is None else int(version), tiers)
        if dataplane.versions is not None:
            dataplane.versions.refresh(force=True)
        return JSONResponse({"name": model, "rollout": state})

    @app.post("/v2/repository/models/{model}/unload")
    async def unload(model: str, request: Request) -> JSONResponse:
        _admin(dataplane, request)
        await read_body(request, 1024 * 1024)
        dataplane._catalog.get(model)  # 404 for an unknown model
        removed = await asyncio.to_thread(_control(request).unload, model)
        if dataplane.versions is not None:
            dataplane.versions.refresh(force=True)
        return JSONResponse({"name": model, "unloaded_from": removed})

    @app.post("/admin/models")
    async def push(request: Request) -> JSONResponse:
        _admin(dataplane, request)
        body = await read_body(request, settings.max_model_bytes)
        data, fields = parse_push_body(body, request.headers.get("content-type", ""), dict(request.query_params))
        result = await asyncio.to_thread(_push, settings, data, fields)
        info = result.info
        return JSONResponse(
            {"name": result.name, "version": result.version, "created": result.created, "message": result.message,
             "sha256": info.fp32_sha256, "variants": {k: v.sha256 for k, v in info.variants.items()},
             "seconds": round(result.seconds, 3)},
            status_code=201 if result.created else 200,
        )
