"""The admin API under ``/admin``: tenants, API keys and usage reports over HTTP, for an admin-scope key.

Every route needs ``Authorization: Bearer <admin key>``: 401 without a key or with an invalid one, 403 for a
tenant key (and for everyone when auth is off: the admin API needs keys). Bodies are JSON objects; an unknown
field, a wrong type or a value out of range is 400 ``{"error": ...}`` naming the field and the allowed values,
and nothing changes. Unknown tenants and keys are 404; a state that forbids the change (a deleted tenant, a
revoked key) is 409.

    POST   /admin/tenants                     {name, contact, default_site, default_objective, default_deadline_ms,
                                               allowed_models, allowed_tiers, priority, limits: {rpm, ...} or
                                               the limit fields flat}                     -> 201 tenant
    GET    /admin/tenants[?deleted=true]                                                  -> {"tenants": [...]}
    GET    /admin/tenants/{name}                                                          -> tenant
    PATCH  /admin/tenants/{name}              the fields to change (null clears one)      -> tenant
    DELETE /admin/tenants/{name}              soft delete: its keys are revoked           -> tenant
    POST   /admin/keys                        {tenant, scope: tenant|admin, label, expires_in_s}
                                              -> 201 {key_id, key (shown once), scope, tenant, expires_at_s, ...}
    GET    /admin/keys[?tenant=]              never secrets                               -> {"keys": [...]}
    GET    /admin/keys/{key_id}                                                           -> key
    POST   /admin/keys/{key_id}/revoke                                                    -> key
    POST   /admin/keys/{key_id}/rotate        {overlap_s (default 3600), force}           -> the new key, once
    GET    /admin/usage?tenant&since&until&group_by&format=json|csv                       -> report

A change to a tenant or key is made visible to this replica at once (``Authenticator.invalidate``); other
replicas see it within the auth cache TTL. Transport code only: the work is done by ``maas.metering``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from maas.api.dataplane import DataPlane
from maas.api.service import ServiceGuard
from maas.api.usage_routes import check_params, engine_of, parse_usage_query, report_csv, tenant_or_404
from maas.errors import Conflict, Forbidden, InvalidInput, NotFound, PayloadTooLarge
from maas.metering import KeyInfo, Keys, Principal, Tenants
from maas.metering.keys import DEFAULT_OVERLAP_S, KEY_ID_RE, SCOPES, IssuedKey
from maas.metering.tenants import LIMIT_RANGES, validate_tenant_name
from maas.metering.usage import usage_report

__all__ = ["add_admin_routes", "TENANT_FIELDS", "KEY_FIELDS", "ROTATE_FIELDS", "MAX_ADMIN_BODY_BYTES"]

MAX_ADMIN_BODY_BYTES = 64 * 1024
PROFILE_FIELDS = (
    "contact",
    "default_site",
    "default_objective",
    "default_deadline_ms",
    "allowed_models",
    "allowed_tiers",
    "priority",
)
TENANT_FIELDS = (*PROFILE_FIELDS, "limits", *LIMIT_RANGES)
KEY_FIELDS = ("tenant", "scope", "label", "expires_in_s")
ROTATE_FIELDS = ("overlap_s", "force")
USAGE_PARAMS = ("tenant", "since", "until", "group_by", "format")
T = TypeVar("T")


async def _body(request: Request, allowed: Sequence[str]) -> dict[str, Any]:
    """The JSON object in the body ({} when empty); 400 naming the first unknown field and the allowed ones."""
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_ADMIN_BODY_BYTES:
            raise PayloadTooLarge(f"request body exceeds the limit of {MAX_ADMIN_BODY_BYTES} bytes")
        chunks.append(chunk)
    raw = b"".join(chunks)
    fields = f"a JSON object with {', '.join(allowed)}" if allowed else "an empty body or {}"
    if not raw.strip():
        return {}
    try:
        doc = json.loads(raw)
    except ValueError:
        raise InvalidInput(f"body: not valid JSON (allowed: {fields})") from None
    if not isinstance(doc, dict):
        raise InvalidInput(f"body: {type(doc).__name__} is not a JSON object (allowed: {fields})")
    for name in doc:
        if name not in allowed:
            raise InvalidInput(f"{name}: unknown field (allowed: {', '.join(allowed) or 'none'})")
    return doc


def _check_types(doc: dict[str, Any]) -> None:
    """Types the metering validators expect, so a JSON value of the wrong kind is a 400, never a crash."""
    for name in ("contact", "default_site", "default_objective", "tenant", "scope", "label"):
        if doc.get(name) is not None and not isinstance(doc[name], str):
            raise InvalidInput(f"{name}: {doc[name]!r} is not a string (allowed: a string or null)")
    for name in ("allowed_models", "allowed_tiers"):
        value = doc.get(name)
        if value is not None and (not isinstance(value, list) or not all(isinstance(v, str) for v in value)):
            raise InvalidInput(f"{name}: {value!r} is not a list of names (allowed: a list of names, or null for all)")
    if "force" in doc and not isinstance(doc["force"], bool):
        raise InvalidInput(f"force: {doc['force']!r} is not a boolean (allowed: true, false)")


def _flat_limits(doc: dict[str, Any]) -> dict[str, Any]:
    """``limits: {...}`` and flat limit fields, as one dict of limit fields (each named once)."""
    nested = doc.pop("limits", {})
    if not isinstance(nested, dict):
        raise InvalidInput(f"limits: {nested!r} is not an object (allowed: an object with {', '.join(LIMIT_RANGES)})")
    for name in nested:
        if name not in LIMIT_RANGES:
            raise InvalidInput(f"limits.{name}: unknown limit (allowed: {', '.join(LIMIT_RANGES)})")
        if name in doc:
            raise InvalidInput(f"{name}: given both flat and in limits (allowed: one of them)")
    flat = {name: doc.pop(name) for name in list(doc) if name in LIMIT_RANGES}
    return flat | nested


def _key_id(key_id: str) -> str:
    if not KEY_ID_RE.fullmatch(key_id):
        raise InvalidInput(
            f"key_id: {key_id[:16]!r}... is not a key id (allowed: the 12-character id, e.g. from "
            "GET /admin/keys; never put a whole key in a URL)"
        )
    return key_id


def _issued(issued: IssuedKey) -> dict[str, Any]:
    return {name: getattr(issued, name) for name in issued.__slots__}


class _Admin:
    """The admin operations over one data plane's store, secret and clock (run in a worker thread each)."""

    def __init__(self, service: ServiceGuard) -> None:
        self.service = service

    def require(self, authorization: str | None) -> Principal:
        principal = self.service.authenticate(authorization)
        if principal is None:
            raise Forbidden("the admin API needs API keys (auth is off: set MAAS_AUTH=true)")
        if not principal.is_admin:
            raise Forbidden(f"key {principal.key_id} is a tenant key; the admin API needs an admin key")
        return principal

    def tenants(self) -> Tenants:
        return Tenants(engine_of(self.service), self.service.clock)

    def keys(self) -> Keys:
        authenticator = self.service.authenticator
        if authenticator is None:
            raise Forbidden("the admin API needs API keys (auth is off: set MAAS_AUTH=true)")
        return authenticator.keys()

    def key_or_404(self, key_id: str) -> KeyInfo:
        try:
            return self.keys().get(_key_id(key_id))
        except InvalidInput as exc:
            if exc.message.startswith("key_id:"):
                raise
            raise NotFound(f"key: no key with id {key_id}") from None

    def tenant_key_ids(self, name: str) -> list[str]:
        return [k.key_id for k in self.keys().list(name)]

    def invalidate(self, key_ids: Sequence[str]) -> None:
        """On the event loop (the authenticator's cache is not shared with worker threads)."""
        authenticator = self.service.authenticator
        if authenticator is not None and hasattr(authenticator, "invalidate"):
            for key_id in key_ids:
                authenticator.invalidate(key_id)


async def _call(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    return await run_in_threadpool(fn, *args, **kwargs)


def add_admin_routes(app: FastAPI, dataplane: DataPlane) -> None:
    """Register the ``/admin`` routes (see the module docstring) on ``app``."""
    admin = _Admin(dataplane.service)

    def _guard(request: Request) -> Principal:
        return admin.require(request.headers.get("authorization"))

    @app.post("/admin/tenants", status_code=201)
    async def create_tenant(request: Request) -> dict:
        _guard(request)
        doc = await _body(request, ("name", *TENANT_FIELDS))
        _check_types(doc)
        if "name" not in doc:
            raise InvalidInput("name: required (allowed: 1-64 characters of a-z 0-9 - _ ., e.g. acme-logistics)")
        name = validate_tenant_name(doc.pop("name"))
        limits = _flat_limits(doc)
        profile = doc | ({"limits": limits} if limits else {})
        info = await _call(lambda: admin.tenants().create(name, **profile))
        return info.to_dict()

    @app.get("/admin/tenants")
    async def list_tenants(request: Request) -> dict:
        _guard(request)
        check_params(request.query_params, ("deleted",))
        deleted = request.query_params.get("deleted", "false").lower()
        if deleted not in ("true", "false", "1", "0"):
            raise InvalidInput(f"deleted: {deleted!r} is not a boolean (allowed: true, false)")
        found = await _call(lambda: admin.tenants().list(include_deleted=deleted in ("true", "1")))
        return {"tenants": [t.to_dict() for t in found]}

    @app.get("/admin/tenants/{name}")
    async def get_tenant(request: Request, name: str) -> dict:
        _guard(request)
        return (await _call(tenant_or_404, admin.service, name)).to_dict()

    @app.patch("/admin/tenants/{name}")
    async def update_tenant(request: Request, name: str) -> dict:
        _guard(request)
        doc = await _body(request, TENANT_FIELDS)
        _check_types(doc)
        limits = _flat_limits(doc)  # takes the limit fields out of doc
        changes = {**doc, **limits}
        if not changes:
            raise InvalidInput(f"body: nothing to update (allowed: {', '.join(TENANT_FIELDS)})")
        current = await _call(tenant_or_404, admin.service, name)
        if current.deleted:
            raise Conflict(f"tenant {name!r} was deleted and cannot be changed")
        info = await _call(lambda: admin.tenants().update(name, **changes))
        admin.invalidate(await _call(admin.tenant_key_ids, name))
        return info.to_dict()

    @app.delete("/admin/tenants/{name}")
    async def delete_tenant(request: Request, name: str) -> dict:
        _guard(request)
        await _body(request, ())
        await _call(tenant_or_404, admin.service, name)
        info = await _call(lambda: admin.tenants().delete(name))
        admin.invalidate(await _call(admin.tenant_key_ids, name))
        return info.to_dict()

    @app.post("/admin/keys", status_code=201)
    async def create_key(request: Request) -> dict:
        _guard(request)
        doc = await _body(request, KEY_FIELDS)
        _check_types(doc)
        scope, tenant = doc.get("scope") or "tenant", doc.get("tenant")
        if scope not in SCOPES:
            raise InvalidInput(f"scope: {scope!r} is not known (allowed: {', '.join(SCOPES)})")
        if scope == "tenant" and tenant is None:
            raise InvalidInput("tenant: required for a tenant key (allowed: a tenant name; or scope admin)")
        if scope == "admin" and tenant is not None:
            raise InvalidInput("tenant: an admin key belongs to no tenant (allowed: omit tenant with scope admin)")
        if tenant is not None:
            validate_tenant_name(tenant)
        issued = await _call(
            lambda: admin.keys().create(
                tenant, scope=scope, label=doc.get("label"), expires_in_s=doc.get("expires_in_s")
            )
        )
        return _issued(issued)

    @app.get("/admin/keys")
    async def list_keys(request: Request) -> dict:
        _guard(request)
        check_params(request.query_params, ("tenant",))
        tenant = request.query_params.get("tenant")
        if tenant is not None:
            await _call(tenant_or_404, admin.service, tenant)
        now_s = admin.service.clock.now_s()
        return {"keys": [k.to_dict(now_s) for k in await _call(lambda: admin.keys().list(tenant))]}

    @app.get("/admin/keys/{key_id}")
    async def get_key(request: Request, key_id: str) -> dict:
        _guard(request)
        return (await _call(admin.key_or_404, key_id)).to_dict(admin.service.clock.now_s())

    @app.post("/admin/keys/{key_id}/revoke")
    async def revoke_key(request: Request, key_id: str) -> dict:
        _guard(request)
        await _body(request, ())
        await _call(admin.key_or_404, key_id)
        info = await _call(lambda: admin.keys().revoke(key_id))
        admin.invalidate([key_id])
        return info.to_dict(admin.service.clock.now_s())

    @app.post("/admin/keys/{key_id}/rotate")
    async def rotate_key(request: Request, key_id: str) -> dict:
        _guard(request)
        doc = await _body(request, ROTATE_FIELDS)
        _check_types(doc)
        overlap_s, force = doc.get("overlap_s", DEFAULT_OVERLAP_S), doc.get("force", False)
        info = await _call(admin.key_or_404, key_id)
        state = info.status(admin.service.clock.now_s())
        if state in ("revoked", "expired"):
            raise Conflict(f"key: {key_id} is {state} (create a new key)")
        issued = await _call(lambda: admin.keys().rotate(key_id, overlap_s=overlap_s, force=force))
        admin.invalidate([key_id])
        return _issued(issued)

    @app.get("/admin/usage")
    async def usage(request: Request) -> Response:
        _guard(request)
        params = request.query_params
        check_params(params, USAGE_PARAMS)
        query = parse_usage_query(params)
        tenant, fmt = params.get("tenant"), params.get("format", "json")
        if tenant is not None:
            validate_tenant_name(tenant)  # deleted and unknown tenants are reported too (no rows for the latter)
        if fmt not in ("json", "csv"):
            raise InvalidInput(f"format: {fmt!r} is not known (allowed: json, csv)")
        engine = engine_of(admin.service)
        report = await _call(usage_report, engine, tenant, query.since_s, query.until_s, query.group_by)
        if fmt == "csv":
            return Response(report_csv(query.group_by, report), media_type="text/csv")
        return JSONResponse(
            {"group_by": query.group_by, "tenant": tenant, "since": query.since_s, "until": query.until_s, **report}
        )
