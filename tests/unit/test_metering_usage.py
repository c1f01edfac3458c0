"""Usage reports, the tenant's own view and the counters a restarted limit authority starts from."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timezone

import pytest
from sqlalchemy import inspect

from maas.clock import ManualClock
from maas.errors import InvalidInput
from maas.metering.journal import UsageRecord
from maas.metering.limits import LimitAuthority
from maas.metering.limits_types import TenantLimits
from maas.metering.usage import period_usage, tenant_usage, usage_report
from maas.metering.usage_ingest import insert_records
from maas.metering.usage_tables import UsageRow
from tests.support.databases import database_url, db_engine, postgres_base_url  # noqa: F401


def utc(*args: int) -> float:
    return datetime(*args, tzinfo=timezone.utc).timestamp()


NOW_S = utc(2026, 11, 21, 12, 0)


def sample() -> list[UsageRecord]:
    """Two tenants over two days and two months; energies and grams exact in binary, so sums are exact."""
    out = []
    spec = [
        # tenant, time, model, tier, status, energy_j, carbon_g, latency_ms
        ("acme", utc(2026, 10, 31, 23, 59), "resnet", "ground", 200, 2.0, 0.5, 40.0),
        ("acme", utc(2026, 11, 20, 10), "resnet", "ground", 200, 1.5, 0.25, 30.0),
        ("acme", utc(2026, 11, 21, 0, 0), "resnet", "edge", 200, 0.75, 0.125, 10.0),
        ("acme", utc(2026, 11, 21, 9), "resnet", "edge", 429, 0.0, 0.0, None),
        ("acme", utc(2026, 11, 21, 11), "minilm", "ground", 503, 0.0, 0.0, None),
        ("acme", utc(2026, 11, 21, 11, 30), "minilm", "edge", 200, 0.5, 0.0625, 20.0),
        ("gone", utc(2026, 11, 21, 8), "resnet", "satellite", 200, 8.0, 1.0, 90.0),  # a deleted tenant
    ]
    for i, (tenant, t, model, tier, status, e, c, lat) in enumerate(spec):
        out.append(
            UsageRecord(
                request_id=f"r{i}",
                time_s=t,
                tenant=tenant,
                model=model,
                status=status,
                tier=tier,
                key_id="revoked" if tenant == "gone" else "k1",
                reason="rate_limit" if status == 429 else None,
                energy_j=e,
                carbon_g=c,
                latency_ms=lat,
                deadline_met=None if lat is None else lat < 35,
                bytes_in=100,
                bytes_out=10,
            )
        )
    return out


@pytest.fixture
def engine(db_engine):  # noqa: F811
    assert insert_records(db_engine, sample()) == 7
    return db_engine


def test_migration_matches_the_table_class(db_engine) -> None:  # noqa: F811
    inspector = inspect(db_engine)
    columns = {c["name"]: c["nullable"] for c in inspector.get_columns("usage_records")}
    assert columns == {c.name: c.nullable for c in UsageRow.__table__.columns}
    uniques = {tuple(u["column_names"]) for u in inspector.get_unique_constraints("usage_records")}
    assert ("request_id",) in uniques
    indexes = {i["name"]: tuple(i["column_names"]) for i in inspector.get_indexes("usage_records")}
    assert indexes["ix_usage_records_tenant_day"] == ("tenant", "day")


def test_totals_equal_the_sum_of_records_exactly(engine) -> None:
    records = sample()
    report = usage_report(engine, group_by=("day", "model", "tier"))
    total = report["total"]
    assert total["requests"] == len(records) == sum(r["requests"] for r in report["rows"])
    assert total["ok"] == sum(r.status == 200 for r in records) == 5
    assert (total["refused"], total["failed"]) == (1, 1)
    assert total["energy_j"] == sum(r.energy_j for r in records) == 12.75
    assert total["carbon_g"] == sum(r.carbon_g for r in records) == 1.9375
    assert sum(r["energy_j"] for r in report["rows"]) == 12.75
    assert total["bytes_in"] == 700 and total["deadline_met"] == 3
    assert total["latency_mean_ms"] == pytest.approx(38.0)
    assert total["latency_p99_ms"] == 90.0
    keys = [(r["day"], r["model"], r["tier"]) for r in report["rows"]]
    assert keys == sorted(keys) and len(keys) == len(set(keys))


def test_grouping_filters_and_deleted_tenants(engine) -> None:
    by_tenant = usage_report(engine, group_by=("tenant", "key"))["rows"]
    assert [(r["tenant"], r["key"], r["requests"]) for r in by_tenant] == [("acme", "k1", 6), ("gone", "revoked", 1)]
    day = usage_report(engine, since=utc(2026, 11, 21), until=utc(2026, 11, 22), group_by=("day",))
    assert [(r["day"], r["requests"]) for r in day["rows"]] == [("2026-11-21", 5)]
    month = usage_report(engine, tenant="acme", group_by=("month",), p99=False)
    assert [(r["month"], r["requests"]) for r in month["rows"]] == [("2026-10", 1), ("2026-11", 5)]
    assert "latency_p99_ms" not in month["total"]
    since_dt = usage_report(engine, since=datetime(2026, 11, 21, 11), group_by=())  # naive = UTC
    assert since_dt["rows"] == [since_dt["total"]] and since_dt["total"]["requests"] == 2


def test_status_counts_match_a_counter(engine) -> None:
    rows = usage_report(engine, group_by=("status",))["rows"]
    assert {r["status"]: r["requests"] for r in rows} == Counter(r.status for r in sample())


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"group_by": ("day", "colour")}, "group_by"),
        ({"group_by": ("day", "day")}, "group_by"),
        ({"since": "x"}, "since"),
    ],
)
def test_bad_report_input_names_the_field(db_engine, kwargs, field) -> None:  # noqa: F811
    with pytest.raises(InvalidInput) as err:
        usage_report(db_engine, **kwargs)
    assert err.value.message.startswith(field) and "allowed" in err.value.message


def test_period_usage_counts_admitted_requests_of_today_and_this_month(engine) -> None:
    usage = period_usage(engine, NOW_S)
    acme = usage["acme"]
    assert (acme.day, acme.month) == ("2026-11-21", "2026-11")
    assert acme.day_requests == 3  # 00:00 ok, 11:00 failed (admitted), 11:30 ok; the 429 was refused
    assert acme.day_energy_j == 1.25
    assert acme.month_requests == 4 and acme.month_carbon_g == 0.4375  # October's request is not this month
    assert usage["gone"].day_requests == 1


def test_a_restarted_authority_keeps_quotas(engine) -> None:
    authority = LimitAuthority(ManualClock(NOW_S))
    authority.load(period_usage(engine, NOW_S))
    limits = TenantLimits(requests_per_day=4, energy_j_per_day=2.5)
    assert authority.admit("acme", limits).ok  # 3 used today, 1 left
    refused = authority.admit("acme", limits)
    assert (refused.reason, refused.reset_at_s) == ("quota", utc(2026, 11, 22))
    assert authority.energy_pressure("acme", limits) == 0.5


def test_tenant_view_is_its_own_only(engine) -> None:
    limits = TenantLimits(requests_per_day=10, carbon_g_per_month=1.0)
    view = tenant_usage(engine, "acme", limits, NOW_S, group_by=("tenant", "day"))
    assert {r["tenant"] for r in view["rows"]} == {"acme"}
    assert view["total"]["requests"] == 6
    assert view["remaining"]["requests_per_day"] == {
        "limit": 10,
        "used": 3,
        "remaining": 7,
        "reset_at_s": utc(2026, 11, 22),
    }
    assert view["remaining"]["carbon_g_per_month"]["remaining"] == 1.0 - 0.4375
    assert view["remaining"]["carbon_g_per_month"]["reset_at_s"] == utc(2026, 12, 1)
    nobody = tenant_usage(engine, "nobody", limits, NOW_S)
    assert nobody["rows"] == [] and nobody["total"]["requests"] == 0
    assert nobody["remaining"]["requests_per_day"]["remaining"] == 10
