"""The live status page: ``GET /ui`` (plain HTML/CSS/JS from ``maas/api/static``, no build step, nothing fetched
from the internet; charts are inline SVG) polling ``GET /ui/api/status`` every 2 s.

Auth: the page and its assets are open (they hold no data). ``/ui/api/status`` needs a key when auth is on
(without one the answer is ``{"need_key": true}``, a wrong key is 401): an admin key (or anyone with auth off) gets the whole document (``maas.api.ui_status``); a tenant
key gets only ``{"role": "tenant", "tenant": name}`` and the page then shows that tenant's own usage and
remaining quota from ``GET /v1/usage``. The page keeps the key in the tab's ``sessionStorage`` (gone when the tab
closes) and sends it as ``Authorization: Bearer ...``.
"""

from __future__ import annotations

from importlib import resources

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from maas.api.metrics import Metrics
from maas.api.ui_status import StatusBuilder
from maas.errors import InvalidInput, NotFound

__all__ = ["add_ui_routes", "POLL_INTERVAL_S"]

POLL_INTERVAL_S = 2.0
_ASSETS = {"ui.js": "text/javascript", "ui.css": "text/css"}


def _asset(name: str) -> bytes:
    return resources.files("maas.api").joinpath("static", name).read_bytes()


def add_ui_routes(app: FastAPI, dataplane, metrics: Metrics) -> StatusBuilder:
    """Register ``/ui``, ``/ui/static/{name}`` and ``/ui/api/status`` (see the module docstring)."""
    builder = StatusBuilder(metrics, dataplane, lambda: getattr(app.state, "rollout_summary", lambda: [])())
    placer = metrics.placer

    @app.get("/ui", include_in_schema=False)
    async def page() -> Response:
        return Response(_asset("ui.html"), media_type="text/html; charset=utf-8",
                        headers={"Cache-Control": "no-cache"})

    @app.get("/ui/static/{name}", include_in_schema=False)
    async def asset(name: str) -> Response:
        kind = _ASSETS.get(name)
        if kind is None:
            raise NotFound(f"no asset {name!r} (allowed: {', '.join(_ASSETS)})")
        return Response(_asset(name), media_type=f"{kind}; charset=utf-8", headers={"Cache-Control": "no-cache"})

    @app.get("/ui/api/status", include_in_schema=False)
    async def status(request: Request) -> JSONResponse:
        authorization = request.headers.get("authorization")
        if dataplane.service.auth and not authorization:  # not an error: the page asks for a key
            return JSONResponse({"role": "none", "need_key": True, "poll_s": POLL_INTERVAL_S})
        principal = dataplane.service.authenticate(authorization)
        if principal is not None and not principal.is_admin:
            return JSONResponse({"role": "tenant", "tenant": principal.tenant_name, "poll_s": POLL_INTERVAL_S})
        site = request.query_params.get("site") or None
        if site is not None and not placer.site_exists(site):
            raise InvalidInput(f"site: unknown site {site!r} (allowed: a site of the topology, e.g. "
                               f"{placer.default_site})")
        doc = await builder.status(site)
        doc["role"] = "open" if principal is None else "admin"
        doc["poll_s"] = POLL_INTERVAL_S
        return JSONResponse(doc)

    return builder
