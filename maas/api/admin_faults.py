"""Rehearsed faults on the live platform (``maas tiers fail|restore``), in the simulator's fault model.

The control path reaches every gateway replica through the platform database: faults are rows of ``tier_faults``
(``maas.store.fault_table``); each replica's ``FaultWatcher`` reads the active ones at most every ``interval_s``
(1 s): on the request path (one indexed query), or on the live gateway in a background thread and hands them to its placer (``LivePlacer.set_faults``, wall-clock
seconds). A replica that changes a fault applies it at once; the others within ``interval_s``. A failed tier is not
chosen (its estimate says ``fault: outage``); a request pinned to it gets 503 naming the fault.

Routes (admin key; 401/403 as the rest of /admin):
    GET  /admin/faults                                  -> {"faults": [active faults], "applied": [tier, ...]}
    POST /admin/faults   {tier, for_s, sites?, kind? (outage|link_degradation), factor?, start_in_s?, note?}
                                                        -> 201 the fault
    POST /admin/faults/{tier}/restore                   -> {"cleared": [faults ended now]}
Registered from ``create_app`` by ``add_fault_routes`` (also installs the watcher as a pure ASGI middleware).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from maas.api.admin import _body
from maas.api.dataplane import DataPlane
from maas.errors import Forbidden, InvalidInput, MaasError, NotFound, NotReady
from maas.placement import Fault
from maas.store import session_scope
from maas.store.fault_table import FaultRecord, active_faults, add_fault, clear_faults

__all__ = ["FaultWatcher", "add_fault_routes", "FAULT_FIELDS", "MAX_FAULT_S"]

log = logging.getLogger(__name__)
FAULT_FIELDS = ("tier", "for_s", "sites", "kind", "factor", "start_in_s", "note")
MAX_FAULT_S = 7 * 86400.0


def to_fault(r: FaultRecord) -> Fault:
    return Fault(r.kind, r.tier, r.start_s, r.end_s, frozenset(r.sites) if r.sites is not None else None, r.factor)


class FaultWatcher:
    """One replica's view of the rehearsed faults: polls the table, applies them to the placer."""

    def __init__(self, dataplane: DataPlane, interval_s: float = 1.0) -> None:
        self.dataplane = dataplane
        self.interval_s = interval_s
        self.active: list[FaultRecord] = []
        self._next_s = float("-inf")
        self.in_background = False  # True: a background task calls ``refresh``; the request path does not

    @property
    def engine(self) -> Any:
        return self.dataplane.service.engine

    def maybe_refresh(self) -> None:
        """Refresh when ``interval_s`` has passed since the last one (cheap otherwise: one clock read)."""
        if not self.in_background and self.dataplane.service.clock.now_s() >= self._next_s:
            self.refresh()

    def refresh(self) -> None:
        """Read the active faults now and apply them; a database error keeps the previous ones (logged)."""
        self.apply(self.read())

    def read(self) -> list[FaultRecord] | None:
        """The active faults now (None: unreadable, keep the previous ones); safe in a worker thread."""
        now_s = self.dataplane.service.clock.now_s()
        self._next_s = now_s + self.interval_s
        if self.engine is None:
            return None
        try:
            with session_scope(self.engine, write=False) as session:
                return active_faults(session, now_s)
        except MaasError as exc:
            log.warning("fault table unreadable, keeping %d faults: %s", len(self.active), exc.message)
            return None

    def apply(self, active: list[FaultRecord] | None) -> None:
        """Hand changed faults to the placer (on the request path's loop)."""
        if active is not None and active != self.active:
            self.active = active
            self.dataplane._placer.set_faults([to_fault(r) for r in active])


def _require_admin(dataplane: DataPlane, request: Request) -> None:
    principal = dataplane.service.authenticate(request.headers.get("authorization"))
    if principal is None:
        raise Forbidden("the admin API needs API keys (auth is off: set MAAS_AUTH=true)")
    if not principal.is_admin:
        raise Forbidden(f"key {principal.key_id} is a tenant key; the admin API needs an admin key")


def _number(doc: dict[str, Any], name: str, default: float | None, lo: float, hi: float) -> float:
    value = doc.get(name, default)
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)) or not lo <= value <= hi:
        raise InvalidInput(f"{name}: {value!r} is out of range (allowed: a number in [{lo:g}, {hi:g}])")
    return float(value)


def _validate(dataplane: DataPlane, doc: dict[str, Any]) -> dict[str, Any]:
    placer = dataplane._placer
    tier = doc.get("tier")
    if not isinstance(tier, str) or tier not in placer.tier_names:
        raise InvalidInput(f"tier: {tier!r} is not a tier (allowed: {', '.join(placer.tier_names)})")
    kind = doc.get("kind", "outage")
    if kind not in ("outage", "link_degradation"):
        raise InvalidInput(f"kind: {kind!r} (allowed: outage, link_degradation)")
    for_s = _number(doc, "for_s", None, 0.001, MAX_FAULT_S)
    start_in_s = _number(doc, "start_in_s", 0.0, 0.0, MAX_FAULT_S)
    factor = _number(doc, "factor", 1.0 if kind == "outage" else 2.0, 1.0, 1000.0)
    sites = doc.get("sites")
    if sites is not None:
        if not isinstance(sites, list) or not sites or not all(isinstance(s, str) for s in sites):
            raise InvalidInput(f"sites: {sites!r} (allowed: a non-empty list of site names, or null for every site)")
        unknown = [s for s in sites if not placer.site_exists(s)]
        if unknown:
            raise InvalidInput(f"sites: {unknown[0]!r} is not a site of the topology")
    note = doc.get("note")
    if note is not None and (not isinstance(note, str) or len(note) > 200):
        raise InvalidInput("note: allowed a string of at most 200 characters")
    now_s = dataplane.service.clock.now_s()
    return {"kind": kind, "tier": tier, "sites": sites, "factor": factor, "start_s": now_s + start_in_s,
            "end_s": now_s + start_in_s + for_s, "now_s": now_s, "note": note}


def add_fault_routes(app: FastAPI, dataplane: DataPlane, interval_s: float = 1.0) -> FaultWatcher:
    """Register the routes and the watcher (see the module docstring); returns the watcher."""
    watcher = FaultWatcher(dataplane, interval_s)
    app.state.fault_watcher = watcher

    def engine() -> Any:
        if watcher.engine is None:
            raise NotReady("the platform database is not open in this gateway")
        return watcher.engine

    @app.get("/admin/faults")
    async def list_faults(request: Request) -> dict:
        _require_admin(dataplane, request)
        await run_in_threadpool(watcher.refresh)
        return {"faults": [r.to_dict() for r in watcher.active],
                "applied": sorted({r.tier for r in watcher.active})}

    @app.post("/admin/faults", status_code=201)
    async def fail_tier(request: Request) -> JSONResponse:
        _require_admin(dataplane, request)
        fields = _validate(dataplane, await _body(request, FAULT_FIELDS))

        def write() -> FaultRecord:
            with session_scope(engine()) as session:
                return add_fault(session, **fields)

        record = await run_in_threadpool(write)
        await run_in_threadpool(watcher.refresh)  # this replica at once; the others within interval_s
        return JSONResponse(record.to_dict(), status_code=201)

    @app.post("/admin/faults/{tier}/restore")
    async def restore_tier(tier: str, request: Request) -> dict:
        _require_admin(dataplane, request)
        if tier not in dataplane._placer.tier_names:
            raise NotFound(f"tier: no tier {tier!r} (tiers: {', '.join(dataplane._placer.tier_names)})")
        now_s = dataplane.service.clock.now_s()

        def write() -> list[FaultRecord]:
            with session_scope(engine()) as session:
                return clear_faults(session, tier, now_s)

        cleared = await run_in_threadpool(write)
        await run_in_threadpool(watcher.refresh)
        return {"cleared": [r.to_dict() for r in cleared]}

    class _Refresh:
        """Pure ASGI middleware: every HTTP request first lets the watcher refresh when due."""

        def __init__(self, inner: Any) -> None:
            self.inner = inner

        async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] == "http":
                watcher.maybe_refresh()
            await self.inner(scope, receive, send)

    app.add_middleware(_Refresh)
    return watcher
