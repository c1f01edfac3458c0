"""Usage queries over ``usage_records``: reports by any grouping, a tenant's own view, current-period counters.

Every metered request is a row (admitted or refused), so ``requests = ok + refused + failed``. Tenants and keys
are plain names in the rows: deleted tenants and revoked keys stay in every report.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import Engine, case, func, select

from maas.errors import InvalidInput
from maas.metering.limits_types import (
    PeriodUsage,
    TenantLimits,
    day_key,
    month_key,
    next_day_start_s,
    next_month_start_s,
)
from maas.metering.usage_tables import UsageRow
from maas.store import session_scope

__all__ = ["GROUPS", "usage_report", "period_usage", "remaining_quota", "tenant_usage"]

# name in reports -> column
GROUPS = {
    "day": UsageRow.day,
    "month": UsageRow.month,
    "tenant": UsageRow.tenant,
    "key": UsageRow.key_id,
    "model": UsageRow.model,
    "version": UsageRow.version,
    "tier": UsageRow.tier,
    "site": UsageRow.site,
    "status": UsageRow.status,
}
REFUSED_STATUS = 429


def _seconds(value: float | datetime | None, name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).timestamp()
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidInput(f"{name}: {value!r} is not a time (allowed: seconds since the epoch or a datetime)")
    return float(value)


def _aggregates() -> list[Any]:
    ok = func.sum(case((UsageRow.status == 200, 1), else_=0))
    refused = func.sum(case((UsageRow.status == REFUSED_STATUS, 1), else_=0))
    met = func.sum(case((UsageRow.deadline_met.is_(True), 1), else_=0))
    return [
        func.count().label("requests"),
        ok.label("ok"),
        refused.label("refused"),
        func.coalesce(func.sum(UsageRow.energy_j), 0.0).label("energy_j"),
        func.coalesce(func.sum(UsageRow.carbon_g), 0.0).label("carbon_g"),
        func.avg(UsageRow.latency_ms).label("latency_mean_ms"),
        met.label("deadline_met"),
        func.coalesce(func.sum(UsageRow.bytes_in), 0).label("bytes_in"),
        func.coalesce(func.sum(UsageRow.bytes_out), 0).label("bytes_out"),
    ]


def _p99(values: list[float]) -> float | None:
    if not values:
        return None
    values.sort()
    return values[max(0, math.ceil(0.99 * len(values)) - 1)]  # nearest rank


def usage_report(
    engine: Engine,
    tenant: str | None = None,
    since: float | datetime | None = None,
    until: float | datetime | None = None,
    group_by: Sequence[str] = ("day", "model", "tier"),
    *,
    p99: bool = True,
) -> dict[str, Any]:
    """``{"rows": [...], "total": {...}}``: per group (``GROUPS`` names, in order) and over everything matched:
    requests, ok (200), refused (429), failed (the rest), energy_j, carbon_g, latency mean/p99 (ms, over rows with
    a latency; p99 costs a pass over those latencies: ``p99=False`` skips it), deadline_met, bytes in/out.
    ``since`` inclusive, ``until`` exclusive (seconds or datetimes; naive datetimes are UTC)."""
    group_by = list(group_by)
    bad = [g for g in group_by if g not in GROUPS]
    if bad:
        raise InvalidInput(f"group_by: unknown {bad[0]!r} (allowed: {', '.join(GROUPS)})")
    if len(set(group_by)) != len(group_by):
        raise InvalidInput(f"group_by: {','.join(group_by)} names a group twice (allowed: {', '.join(GROUPS)})")
    since_s, until_s = _seconds(since, "since"), _seconds(until, "until")
    where = []
    if tenant is not None:
        where.append(UsageRow.tenant == tenant)
    if since_s is not None:
        where.append(UsageRow.time_s >= since_s)
    if until_s is not None:
        where.append(UsageRow.time_s < until_s)
    cols = [GROUPS[g] for g in group_by]
    with session_scope(engine, write=False) as session:
        grouped = session.execute(
            select(*cols, *_aggregates()).where(*where).group_by(*cols).order_by(*[c.asc().nulls_first() for c in cols])
        ).all()
        total = session.execute(select(*_aggregates()).where(*where)).one()
        latencies: dict[tuple, list[float]] = defaultdict(list)
        if p99:
            stream = session.execute(select(*cols, UsageRow.latency_ms).where(*where, UsageRow.latency_ms.is_not(None)))
            for row in stream:
                latencies[tuple(row[:-1])].append(row[-1])
    all_latencies = [v for vs in latencies.values() for v in vs]
    rows = []
    for row in grouped:
        key = tuple(row[: len(cols)])
        out = dict(zip(group_by, key, strict=True))
        out.update(_figures(row._mapping, latencies.get(key, []) if p99 else None))
        rows.append(out)
    return {"rows": rows, "total": _figures(total._mapping, all_latencies if p99 else None)}


def _figures(m: Any, latencies: list[float] | None) -> dict[str, Any]:
    requests, ok, refused = int(m["requests"]), int(m["ok"] or 0), int(m["refused"] or 0)
    out = {
        "requests": requests,
        "ok": ok,
        "refused": refused,
        "failed": requests - ok - refused,
        "energy_j": float(m["energy_j"]),
        "carbon_g": float(m["carbon_g"]),
        "latency_mean_ms": None if m["latency_mean_ms"] is None else float(m["latency_mean_ms"]),
        "deadline_met": int(m["deadline_met"] or 0),
        "bytes_in": int(m["bytes_in"]),
        "bytes_out": int(m["bytes_out"]),
    }
    if latencies is not None:
        out["latency_p99_ms"] = _p99(list(latencies))
    return out


def period_usage(engine: Engine, now_s: float, tenant: str | None = None) -> dict[str, PeriodUsage]:
    """Per tenant: admitted requests (every status but 429) and joules of the UTC day holding ``now_s``,
    admitted requests and grams of its month. What ``LimitAuthority.load`` starts from."""
    day, month = day_key(now_s), month_key(now_s)
    admitted = func.sum(case((UsageRow.status != REFUSED_STATUS, 1), else_=0))
    where = [UsageRow.month == month] + ([UsageRow.tenant == tenant] if tenant is not None else [])
    out: dict[str, PeriodUsage] = {}
    with session_scope(engine, write=False) as session:
        for name, requests, carbon_g in session.execute(
            select(UsageRow.tenant, admitted, func.coalesce(func.sum(UsageRow.carbon_g), 0.0))
            .where(*where)
            .group_by(UsageRow.tenant)
        ):
            out[name] = PeriodUsage(day, month, month_requests=int(requests or 0), month_carbon_g=float(carbon_g))
        for name, requests, energy_j in session.execute(
            select(UsageRow.tenant, admitted, func.coalesce(func.sum(UsageRow.energy_j), 0.0))
            .where(*where, UsageRow.day == day)
            .group_by(UsageRow.tenant)
        ):
            u = out.setdefault(name, PeriodUsage(day, month))
            u.day_requests, u.day_energy_j = int(requests or 0), float(energy_j)
    return out


def remaining_quota(limits: TenantLimits, usage: PeriodUsage, now_s: float) -> dict[str, dict[str, Any]]:
    """Per limit that is set: limit, used, remaining (never below 0) and when it resets (``reset_at_s``)."""
    day_reset, month_reset = next_day_start_s(now_s), next_month_start_s(now_s)
    items = [
        ("requests_per_day", limits.requests_per_day, usage.day_requests, day_reset),
        ("requests_per_month", limits.requests_per_month, usage.month_requests, month_reset),
        ("energy_j_per_day", limits.energy_j_per_day, usage.day_energy_j, day_reset),
        ("carbon_g_per_month", limits.carbon_g_per_month, usage.month_carbon_g, month_reset),
    ]
    return {
        name: {"limit": limit, "used": used, "remaining": max(0, limit - used), "reset_at_s": reset}
        for name, limit, used, reset in items
        if limit is not None
    }


def tenant_usage(
    engine: Engine,
    tenant: str,
    limits: TenantLimits,
    now_s: float,
    *,
    since: float | datetime | None = None,
    until: float | datetime | None = None,
    group_by: Sequence[str] = ("day", "model", "tier"),
    current: PeriodUsage | None = None,
) -> dict[str, Any]:
    """A tenant's own view (``GET /v1/usage``): its usage only, and what its quotas leave. ``tenant`` comes from
    the caller's key, never from the request, so no other tenant's rows can be named. ``current``: the live
    counters (``LimitAuthority.usage``), fresher than the database by the ingestion interval."""
    report = usage_report(engine, tenant=tenant, since=since, until=until, group_by=group_by)
    counters = (
        current or period_usage(engine, now_s, tenant).get(tenant) or PeriodUsage(day_key(now_s), month_key(now_s))
    )
    return {"tenant": tenant, **report, "remaining": remaining_quota(limits, counters, now_s)}
