"""Usage over HTTP: ``GET /v1/usage`` for key holders, and the query parsing and reports ``/admin/usage`` shares.

``GET /v1/usage`` (any valid key) answers the caller's own tenant's usage (``rows`` and ``total``, grouped as
asked) and what its quotas leave (``remaining``). The tenant comes from the key, never from the request: a tenant
key may name only its own tenant in ``tenant=`` (403 otherwise); an admin key must name one. With auth off the
caller is the tenant ``anonymous`` (no limits). Query parameters:

* ``since`` (inclusive), ``until`` (exclusive): ISO-8601 (UTC unless an offset is given) or seconds since the epoch;
* ``group_by``: comma-separated names of ``maas.metering.usage.GROUPS``, or ``none``; default ``day,model,tier``.

``current`` (the UTC day's and month's counters the limits use) comes from the limiter when it can tell them (an
in-process authority: fresh; it counts what the limits count, so admissions a gateway replica reserved in a lease
and let lapse unused count as used, and ``remaining`` is what the limits will still admit), otherwise from the
database (admitted requests, fresh to within the usage ingestion interval); ``current.source`` says which. Bad parameters: 400 naming the parameter and
the allowed values. Transport code only: the figures come from ``maas.metering.usage``.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from fastapi import FastAPI, Request
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from maas.api.dataplane import DataPlane
from maas.api.service import ANONYMOUS, ServiceGuard
from maas.errors import Forbidden, InvalidInput, NotFound, NotReady
from maas.metering import Principal, Tenants
from maas.metering.limits_types import PeriodUsage, TenantLimits, day_key, month_key
from maas.metering.usage import GROUPS, period_usage, tenant_usage

__all__ = [
    "DEFAULT_GROUP_BY",
    "UsageQuery",
    "parse_usage_query",
    "check_params",
    "report_csv",
    "engine_of",
    "tenant_or_404",
    "add_usage_routes",
]

DEFAULT_GROUP_BY = ("day", "model", "tier")
TIME_FORMATS = "ISO-8601 such as 2026-11-01 or 2026-11-01T12:00:00+00:00 (UTC unless an offset is given), or seconds since the epoch"
OWN_PARAMS = ("tenant", "since", "until", "group_by")


@dataclass(frozen=True, slots=True)
class UsageQuery:
    since_s: float | None
    until_s: float | None
    group_by: list[str]


def check_params(params: Any, allowed: Sequence[str]) -> None:
    """Refuse unknown and repeated query parameters (400 naming the parameter and the allowed ones)."""
    for name in params.keys():
        if name not in allowed:
            raise InvalidInput(f"{name}: unknown query parameter (allowed: {', '.join(allowed)})")
        if len(params.getlist(name)) > 1:
            raise InvalidInput(f"{name}: given more than once (allowed: once)")


def _time(value: str | None, name: str) -> float | None:
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            parsed = dt.datetime.fromisoformat(value.strip())
        except ValueError:
            raise InvalidInput(f"{name}: {value!r} is not a time (allowed: {TIME_FORMATS})") from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=dt.timezone.utc)
        return parsed.timestamp()
    if not math.isfinite(seconds):
        raise InvalidInput(f"{name}: {value!r} is not a time (allowed: {TIME_FORMATS})")
    return seconds


def _groups(value: str | None) -> list[str]:
    allowed = f"comma-separated {', '.join(GROUPS)}; or none"
    if value is None:
        return list(DEFAULT_GROUP_BY)
    if value.strip().lower() in ("", "none"):
        return []
    groups = [g.strip() for g in value.split(",")]
    for g in groups:
        if g not in GROUPS:
            raise InvalidInput(f"group_by: unknown group {g!r} (allowed: {allowed})")
    if len(set(groups)) != len(groups):
        raise InvalidInput(f"group_by: {value!r} names a group twice (allowed: {allowed})")
    return groups


def parse_usage_query(params: Mapping[str, str]) -> UsageQuery:
    """``since``, ``until`` and ``group_by`` from query parameters (400 naming the parameter on bad input)."""
    since_s, until_s = _time(params.get("since"), "since"), _time(params.get("until"), "until")
    if since_s is not None and until_s is not None and until_s <= since_s:
        raise InvalidInput(
            f"until: {params.get('until')!r} is not after since {params.get('since')!r} (allowed: a later time)"
        )
    return UsageQuery(since_s, until_s, _groups(params.get("group_by")))


def report_csv(groups: Sequence[str], report: Mapping[str, Any]) -> str:
    """The grouped rows as CSV (no total line), the columns ``maas usage -o csv`` prints."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    headers = [*groups, *report["total"].keys()]
    writer.writerow(headers)
    for row in report["rows"]:
        writer.writerow(["" if row.get(h) is None else row.get(h) for h in headers])
    return out.getvalue()


def engine_of(service: ServiceGuard) -> Engine:
    if service.engine is None:
        raise NotReady("the platform database is not open in this gateway")
    return service.engine


def tenant_or_404(service: ServiceGuard, name: str):
    """The tenant named ``name`` (deleted ones too): 400 for a malformed name, 404 for an unknown one."""
    from maas.metering.tenants import validate_tenant_name

    validate_tenant_name(name)
    try:
        return Tenants(engine_of(service), service.clock).get(name)
    except InvalidInput:  # the name is valid, so the only refusal left is "no such tenant"
        raise NotFound(f"tenant: no tenant named {name!r}") from None


def _live_counters(service: ServiceGuard, tenant: str) -> PeriodUsage | None:
    usage = getattr(service.limiter, "usage", None)
    return None if usage is None else usage(tenant)


def _own_tenant(service: ServiceGuard, principal: Principal | None, asked: str | None) -> tuple[str, TenantLimits]:
    """Whose usage the caller may read, and that tenant's limits; never another tenant's for a tenant key."""
    if principal is None:  # auth off: everyone is the anonymous tenant
        if asked not in (None, ANONYMOUS):
            raise Forbidden(f"tenant: with auth off only {ANONYMOUS!r} can be read (allowed: {ANONYMOUS})")
        return ANONYMOUS, TenantLimits()
    if principal.is_admin:
        if asked is None:
            raise InvalidInput(
                "tenant: an admin key must name a tenant (allowed: a tenant name; "
                "GET /admin/usage reports on every tenant)"
            )
        return asked, TenantLimits()  # the limits are read from the database by the caller
    assert principal.tenant is not None
    own = principal.tenant.name
    if asked not in (None, own):
        raise Forbidden(f"tenant: a tenant key may only read its own tenant's usage (allowed: {own})")
    return own, TenantLimits.of(principal.tenant.limits)


def add_usage_routes(app: FastAPI, dataplane: DataPlane) -> None:
    """Register ``GET /v1/usage`` on ``app`` (see the module docstring)."""
    service = dataplane.service

    @app.get("/v1/usage")
    async def own_usage(request: Request) -> dict:
        principal = service.authenticate(request.headers.get("authorization"))
        params = request.query_params
        check_params(params, OWN_PARAMS)
        query = parse_usage_query(params)
        tenant, limits = _own_tenant(service, principal, params.get("tenant"))
        engine = engine_of(service)
        if principal is not None and principal.is_admin:
            info = await run_in_threadpool(tenant_or_404, service, tenant)
            limits = TenantLimits.of(info.limits)
        now_s = service.clock.now_s()
        live = _live_counters(service, tenant)  # on the event loop: the limiter is not thread-safe

        def answer() -> dict[str, Any]:
            current = live or period_usage(engine, now_s, tenant).get(tenant)
            current = current or PeriodUsage(day_key(now_s), month_key(now_s))
            doc = tenant_usage(
                engine,
                tenant,
                limits,
                now_s,
                since=query.since_s,
                until=query.until_s,
                group_by=query.group_by,
                current=current,
            )
            source = "limiter" if live is not None else "database"
            return {
                "group_by": query.group_by,
                "since": query.since_s,
                "until": query.until_s,
                **doc,
                "current": {**asdict(current), "source": source},
                "now_s": now_s,
            }

        return await run_in_threadpool(answer)
