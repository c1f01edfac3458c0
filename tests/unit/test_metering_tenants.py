"""Tenants on SQLite and PostgreSQL: validation (names, SQL-looking/unicode, limits), updates, soft delete."""

from __future__ import annotations

import math

import pytest
from sqlalchemy import func, select

from maas.clock import ManualClock
from maas.errors import InvalidInput
from maas.metering import Keys, Limits, Tenants
from maas.metering.tables import Tenant
from maas.store import session_scope
from tests.support.databases import database_url, db_engine  # noqa: F401

T0_S = 1_800_000_000.0


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0_S)


@pytest.fixture
def tenants(db_engine, clock) -> Tenants:  # noqa: F811
    return Tenants(db_engine, clock)


def _count(engine) -> int:
    with session_scope(engine, write=False) as session:
        return session.scalar(select(func.count()).select_from(Tenant))


def test_create_with_full_profile_round_trips(tenants: Tenants) -> None:
    created = tenants.create(
        "acme-logistics",
        contact="ops@acme.example",
        default_site="riyadh-sme-1",
        default_objective="energy",
        default_deadline_ms=250,
        allowed_models=["digits-cnn", "minilm"],
        allowed_tiers=["ground", "base-station"],
        priority=7,
        limits=Limits(rpm=600, burst=50, requests_per_day=10_000, max_concurrent=8, energy_j_per_day=5e4),
    )
    got = tenants.get("acme-logistics")
    assert got == created
    assert got.allowed_tiers == ("base-station", "ground")
    assert got.default_deadline_ms == 250.0 and got.priority == 7
    assert got.limits.rpm == 600 and got.limits.carbon_g_per_month is None
    assert got.created_at_s == T0_S and not got.deleted


def test_defaults_mean_everything_allowed_and_priority_5(tenants: Tenants) -> None:
    t = tenants.create("plain")
    assert t.allowed_models is None and t.allowed_tiers is None
    assert t.priority == 5 and t.limits == Limits()


@pytest.mark.parametrize(
    "name",
    [
        "acme'; DROP TABLE tenants; --",
        "x' OR '1'='1",
        "Robert",  # upper case
        "ünïcode",
        "名字",
        "acme\u200b",  # zero-width space
        "-leading-dash",
        "",
        "a" * 65,
        "with space",
        "semi;colon",
    ],
)
def test_bad_names_are_refused_before_the_database(tenants: Tenants, db_engine, name: str) -> None:  # noqa: F811
    with pytest.raises(InvalidInput, match=r"^name: .* \(allowed: 1-64 characters"):
        tenants.create(name)
    assert _count(db_engine) == 0


def test_longest_and_punctuated_names_are_accepted(tenants: Tenants) -> None:
    assert tenants.create("a" * 64).name == "a" * 64
    assert tenants.create("0acme_b.c-d").name == "0acme_b.c-d"


@pytest.mark.parametrize(
    ("field", "value", "allowed"),
    [
        ("rpm", -1, r"\[0, 1000000\]"),
        ("rpm", 10**9, r"\[0, 1000000\]"),
        ("rpm", 1.5, "integer"),
        ("rpm", True, "integer"),
        ("burst", 0, r"\[1, 1000000\]"),
        ("requests_per_day", -5, "integer in"),
        ("requests_per_month", 10**15, "integer in"),
        ("max_concurrent", -1, r"\[0, 100000\]"),
        ("energy_j_per_day", -0.1, "number in"),
        ("energy_j_per_day", math.inf, "number in"),
        ("carbon_g_per_month", math.nan, "number in"),
        ("carbon_g_per_month", "lots", "number in"),
    ],
)
def test_negative_or_absurd_limits_name_the_field_and_range(tenants, db_engine, field, value, allowed) -> None:  # noqa: F811
    limits = {field: value}
    if field == "burst":
        limits["rpm"] = 60
    with pytest.raises(InvalidInput, match=rf"^{field}: .*allowed: .*{allowed}"):
        tenants.create("acme", limits=limits)
    assert _count(db_engine) == 0


@pytest.mark.parametrize(
    ("field", "value", "pattern"),
    [
        ("default_objective", "fastest", "allowed: latency, balanced, energy, carbon"),
        ("allowed_tiers", ["moon"], "allowed: base-station, optical-access, ground, satellite"),
        ("allowed_tiers", [], "empty list"),
        ("allowed_models", ["bad model!"], "allowed: model names"),
        ("priority", 10, r"\[0, 9\]"),
        ("priority", -1, r"\[0, 9\]"),
        ("default_deadline_ms", 0, "> 0"),
        ("default_deadline_ms", -20, "out of range"),
        ("default_site", "Riyadh SME", "not a site name"),
        ("contact", "x" * 300, "at most 256"),
    ],
)
def test_bad_profile_fields_are_refused(tenants, field, value, pattern) -> None:
    with pytest.raises(InvalidInput, match=rf"^{field}: .*{pattern}"):
        tenants.create("acme", **{field: value})


def test_burst_needs_rpm(tenants: Tenants) -> None:
    with pytest.raises(InvalidInput, match="burst needs rpm"):
        tenants.create("acme", limits={"burst": 10})
    tenants.create("acme", rpm=60)
    with pytest.raises(InvalidInput, match="burst needs rpm"):
        tenants.update("acme", rpm=None, burst=5)
    assert tenants.update("acme", burst=5).limits.burst == 5


def test_names_are_unique_even_after_delete(tenants: Tenants) -> None:
    tenants.create("acme")
    with pytest.raises(InvalidInput, match="exists or existed"):
        tenants.create("acme")
    tenants.delete("acme")
    with pytest.raises(InvalidInput, match="exists or existed"):
        tenants.create("acme")


def test_update_changes_only_given_fields_and_none_clears(tenants: Tenants, clock: ManualClock) -> None:
    tenants.create("acme", contact="a@x", rpm=100, allowed_tiers=["ground"])
    clock.advance(10)
    updated = tenants.update("acme", allowed_tiers=None, requests_per_month=1_000_000, priority=2)
    assert updated.allowed_tiers is None and updated.limits.requests_per_month == 1_000_000
    assert updated.contact == "a@x" and updated.limits.rpm == 100 and updated.priority == 2
    assert updated.updated_at_s == T0_S + 10 and updated.created_at_s == T0_S


def test_failed_update_changes_nothing(tenants: Tenants) -> None:
    before = tenants.create("acme", rpm=100)
    with pytest.raises(InvalidInput, match="max_concurrent"):
        tenants.update("acme", rpm=200, max_concurrent=-3)
    assert tenants.get("acme") == before


def test_unknown_field_is_refused(tenants: Tenants) -> None:
    tenants.create("acme")
    with pytest.raises(InvalidInput, match="colour: not a tenant field"):
        tenants.update("acme", colour="blue")


def test_soft_delete_keeps_the_row_and_revokes_keys(tenants, db_engine, clock) -> None:  # noqa: F811
    tenants.create("acme")
    tenants.create("other")
    keys = Keys(db_engine, b"s" * 32, clock)
    issued = keys.create("acme")
    clock.advance(5)
    deleted = tenants.delete("acme")
    assert deleted.deleted_at_s == T0_S + 5
    assert [t.name for t in tenants.list()] == ["other"]
    assert [t.name for t in tenants.list(include_deleted=True)] == ["acme", "other"]
    assert tenants.get("acme").deleted
    assert keys.get(issued.key_id).revoked_at_s == T0_S + 5
    with pytest.raises(InvalidInput, match="it was deleted"):
        tenants.update("acme", rpm=5)
    with pytest.raises(InvalidInput, match="was deleted"):
        keys.create("acme")
    assert tenants.delete("acme").deleted_at_s == T0_S + 5  # idempotent


def test_unknown_tenant(tenants: Tenants) -> None:
    with pytest.raises(InvalidInput, match="no tenant named 'ghost'"):
        tenants.get("ghost")
    with pytest.raises(InvalidInput, match="not a valid tenant name"):
        tenants.get("ghost'--")


def test_tenant_info_to_dict_is_json_ready(tenants: Tenants) -> None:
    import json

    doc = json.loads(json.dumps(tenants.create("acme", allowed_models=["m1"], rpm=5).to_dict()))
    assert doc["allowed_models"] == ["m1"] and doc["limits"]["rpm"] == 5 and doc["deleted_at_s"] is None
