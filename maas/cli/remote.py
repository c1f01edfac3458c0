"""The CLI over the admin API: ``maas tenants|keys|usage --url URL [--admin-key KEY]`` call a running platform.

``--url`` (env ``MAAS_URL``) switches a command from the local database to HTTP; the admin key comes from
``--admin-key`` (env ``MAAS_ADMIN_KEY``), else from ``<data_dir>/admin.key`` when it exists. ``RemoteTenants`` and
``RemoteKeys`` have the methods of ``maas.metering.Tenants`` and ``Keys`` the CLI calls and return the same values,
so the output is the same either way. Exit codes: 2 for local bad input (a malformed key, tenant name or URL,
before any request), 1 for what the server refuses (its ``{"error"}`` printed with the status) and for an
unreachable server or a timeout.

``open_client(base_url, timeout_s)`` makes the HTTP client (a context manager); tests replace it to run the CLI
against an in-process app, without a socket.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields
from pathlib import Path
from typing import Annotated, Any, ContextManager

import httpx
import typer

from maas.cli.common import EXIT_ERROR, EXIT_USAGE, fail
from maas.metering import KeyInfo, Limits, TenantInfo
from maas.metering.bootstrap import ADMIN_KEY_FILE
from maas.metering.keys import KEY_RE, IssuedKey, key_id_of
from maas.metering.tenants import validate_tenant_name

__all__ = [
    "UrlOpt",
    "AdminKeyOpt",
    "TIMEOUT_S",
    "AdminClient",
    "RemoteTenants",
    "RemoteKeys",
    "admin_client",
    "remote_usage",
    "open_client",
]

UrlOpt = Annotated[
    str | None,
    typer.Option("--url", envvar="MAAS_URL", help="platform URL: use its admin API instead of the local database"),
]
AdminKeyOpt = Annotated[
    str | None,
    typer.Option("--admin-key", envvar="MAAS_ADMIN_KEY", help="admin key for --url (default: <data dir>/admin.key)"),
]
TIMEOUT_S = 10.0


def _default_client(base_url: str, timeout_s: float) -> ContextManager[httpx.Client]:
    return httpx.Client(base_url=base_url, timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 5.0)))


open_client: Callable[[str, float], ContextManager[httpx.Client]] = _default_client


class AdminClient:
    """One admin key against one platform URL; ``call`` returns the decoded JSON or exits (see the docstring)."""

    def __init__(self, url: str, admin_key: str, timeout_s: float = TIMEOUT_S) -> None:
        self.url = url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {admin_key}"}
        self.timeout_s = timeout_s

    def call(self, method: str, path: str, *, json: Any = None, params: dict[str, Any] | None = None) -> Any:
        params = {k: v for k, v in (params or {}).items() if v is not None}
        try:
            with open_client(self.url, self.timeout_s) as http:
                response = http.request(method, path, json=json, params=params, headers=self._headers)
        except httpx.TimeoutException:
            raise fail(f"{self.url}: no answer within {self.timeout_s:g} s ({method} {path})", EXIT_ERROR) from None
        except httpx.HTTPError as exc:
            raise fail(f"cannot reach {self.url}: {type(exc).__name__}: {exc}", EXIT_ERROR) from None
        if response.status_code >= 400:
            try:
                message = response.json()["error"]
            except (ValueError, KeyError, TypeError):
                message = response.text.strip()[:200] or response.reason_phrase
            raise fail(f"{message} (HTTP {response.status_code} from {self.url})", EXIT_ERROR)
        try:
            return response.json()
        except ValueError:
            raise fail(
                f"{self.url}: the answer to {method} {path} is not JSON (is this a maas gateway?)", EXIT_ERROR
            ) from None


def admin_client(url: str, admin_key: str | None, data_dir: Path) -> AdminClient:
    """Check the URL and find the admin key (flag/env, else ``<data_dir>/admin.key``); exit 2 when unusable."""
    if not url.startswith(("http://", "https://")):
        raise fail(f"--url: {url!r} is not an HTTP URL (allowed: http://host:port or https://...)", EXIT_USAGE)
    if admin_key is None:
        path = Path(data_dir) / ADMIN_KEY_FILE
        if not path.exists():
            raise fail(
                f"--admin-key: none given (allowed: --admin-key, MAAS_ADMIN_KEY, or a key in {path})", EXIT_USAGE
            )
        try:
            admin_key = path.read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise fail(f"--admin-key: cannot read {path}: {exc}", EXIT_USAGE) from None
    admin_key = admin_key.strip()
    if not KEY_RE.fullmatch(admin_key):
        raise fail("--admin-key: not a maas API key (allowed: maas_<12 base32 chars>_<32 base32 chars>)", EXIT_USAGE)
    return AdminClient(url, admin_key)


def _of(cls: type, doc: dict[str, Any]) -> dict[str, Any]:
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in doc.items() if k in names}


def _tenant(doc: dict[str, Any]) -> TenantInfo:
    values = _of(TenantInfo, doc)
    values["limits"] = Limits(**_of(Limits, doc.get("limits") or {}))
    for name in ("allowed_models", "allowed_tiers"):
        values[name] = None if values.get(name) is None else tuple(values[name])
    return TenantInfo(**values)


def _json_body(values: dict[str, Any]) -> dict[str, Any]:
    """The CLI's comma-separated model and tier lists as JSON lists (the API takes lists)."""
    out = dict(values)
    for name in ("allowed_models", "allowed_tiers"):
        if isinstance(out.get(name), str):
            out[name] = [v.strip() for v in out[name].split(",") if v.strip()]
    return out


class RemoteTenants:
    """``maas.metering.Tenants`` over the admin API."""

    def __init__(self, client: AdminClient) -> None:
        self._client = client

    @staticmethod
    def _path(name: str) -> str:
        return f"/admin/tenants/{validate_tenant_name(name)}"

    def create(self, name: str, **profile: Any) -> TenantInfo:
        body = {"name": validate_tenant_name(name), **_json_body(profile)}
        return _tenant(self._client.call("POST", "/admin/tenants", json=body))

    def get(self, name: str) -> TenantInfo:
        return _tenant(self._client.call("GET", self._path(name)))

    def list(self, *, include_deleted: bool = False) -> list[TenantInfo]:
        doc = self._client.call("GET", "/admin/tenants", params={"deleted": "true" if include_deleted else None})
        return [_tenant(t) for t in doc["tenants"]]

    def update(self, name: str, **changes: Any) -> TenantInfo:
        return _tenant(self._client.call("PATCH", self._path(name), json=_json_body(changes)))

    def delete(self, name: str) -> TenantInfo:
        return _tenant(self._client.call("DELETE", self._path(name)))


class RemoteKeys:
    """``maas.metering.Keys`` over the admin API (a whole key never leaves this process: only its id does)."""

    def __init__(self, client: AdminClient) -> None:
        self._client = client

    def create(
        self, tenant: str | None, *, scope: str = "tenant", label: str | None = None, expires_in_s: float | None = None
    ) -> IssuedKey:
        if tenant is not None:
            validate_tenant_name(tenant)
        body = {"tenant": tenant, "scope": scope, "label": label, "expires_in_s": expires_in_s}
        doc = self._client.call("POST", "/admin/keys", json={k: v for k, v in body.items() if v is not None})
        return IssuedKey(**_of(IssuedKey, doc))

    def list(self, tenant: str | None = None) -> list[KeyInfo]:
        doc = self._client.call("GET", "/admin/keys", params={"tenant": tenant})
        return [KeyInfo(**_of(KeyInfo, k)) for k in doc["keys"]]

    def revoke(self, key_or_id: str) -> KeyInfo:
        doc = self._client.call("POST", f"/admin/keys/{key_id_of(key_or_id)}/revoke")
        return KeyInfo(**_of(KeyInfo, doc))

    def rotate(self, key_or_id: str, *, overlap_s: float = 3600.0, force: bool = False) -> IssuedKey:
        body = {"overlap_s": overlap_s, "force": force}
        doc = self._client.call("POST", f"/admin/keys/{key_id_of(key_or_id)}/rotate", json=body)
        return IssuedKey(**_of(IssuedKey, doc))


def remote_usage(
    client: AdminClient, tenant: str | None, since_s: float | None, until_s: float | None, groups: list[str]
) -> dict[str, Any]:
    """``GET /admin/usage`` as JSON: ``{"rows": [...], "total": {...}}`` as ``usage_report`` returns it."""
    params = {"tenant": tenant, "since": since_s, "until": until_s, "group_by": ",".join(groups) or "none"}
    doc = client.call("GET", "/admin/usage", params=params)
    return {"rows": doc["rows"], "total": doc["total"]}
