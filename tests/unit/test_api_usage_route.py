"""``GET /v1/usage``: a key holder sees its own tenant's usage and what its quotas leave, never another tenant's
(through any route); live counters from the limiter match the requests and joules the responses reported."""

from __future__ import annotations

import pytest

from maas.api.usage_routes import parse_usage_query
from maas.errors import InvalidInput
from tests.unit.admin_support import DIGITS, Platform, bearer, platform, world  # noqa: F401


def _energy(p: Platform, key: str, n: int) -> float:
    total = 0.0
    for _ in range(n):
        r = p.client.post("/v2/models/digits-mlp/infer", json=DIGITS, headers=bearer(key))
        assert r.status_code == 200, r.text
        total += r.json()["parameters"]["energy_j"]
    return total


def test_own_usage_and_remaining_quota(platform: Platform) -> None:  # noqa: F811
    platform.tenants.create("acme", requests_per_day=10, energy_j_per_day=50.0)
    key = platform.keys.create("acme").key
    energy = _energy(platform, key, 3)
    doc = platform.client.get("/v1/usage", headers=bearer(key)).json()
    assert doc["tenant"] == "acme" and doc["group_by"] == ["day", "model", "tier"]
    current = doc["current"]  # live: the journal has not reached the database yet
    assert current["source"] == "limiter" and current["day_requests"] == 3
    assert current["day_energy_j"] == pytest.approx(energy, rel=1e-9)
    quota = doc["remaining"]["requests_per_day"]
    assert (quota["limit"], quota["used"], quota["remaining"]) == (10, 3, 7)
    assert doc["remaining"]["energy_j_per_day"]["remaining"] == pytest.approx(50.0 - energy)
    assert set(doc["remaining"]) == {"requests_per_day", "energy_j_per_day"}  # only the limits that are set
    platform.ingest()
    doc = platform.client.get("/v1/usage?group_by=model", headers=bearer(key)).json()
    assert [(r["model"], r["requests"], r["ok"]) for r in doc["rows"]] == [("digits-mlp", 3, 3)]
    assert doc["total"]["energy_j"] == pytest.approx(energy, rel=1e-6)


def test_a_tenant_sees_only_its_own_usage_and_keys_through_every_route(platform: Platform) -> None:  # noqa: F811
    c = platform.client
    platform.tenants.create("acme")
    platform.tenants.create("rival")
    acme, rival = platform.keys.create("acme"), platform.keys.create("rival")
    _energy(platform, acme.key, 2)
    _energy(platform, rival.key, 5)
    platform.ingest()
    doc = c.get("/v1/usage?group_by=tenant,key", headers=bearer(acme.key)).json()
    assert [(r["tenant"], r["key"], r["requests"]) for r in doc["rows"]] == [("acme", acme.key_id, 2)]
    assert doc["total"]["requests"] == 2 and "rival" not in str(doc) and rival.key_id not in str(doc)
    r = c.get("/v1/usage?tenant=rival", headers=bearer(acme.key))
    assert r.status_code == 403 and "only read its own tenant's usage (allowed: acme)" in r.json()["error"]
    assert c.get("/v1/usage?tenant=acme", headers=bearer(acme.key)).status_code == 200
    for path in (
        "/admin/usage?tenant=rival",
        "/admin/keys?tenant=rival",
        "/admin/keys",
        "/admin/tenants/rival",
        f"/admin/keys/{rival.key_id}",
        "/admin/tenants",
    ):
        r = c.get(path, headers=bearer(acme.key))
        assert r.status_code == 403 and rival.key_id not in r.text and "rival" not in r.text.replace(path, "")
    r = c.post(f"/admin/keys/{rival.key_id}/revoke", headers=bearer(acme.key))
    assert r.status_code == 403 and platform.infer(rival.key) == 200


def test_an_admin_key_names_the_tenant(platform: Platform) -> None:  # noqa: F811
    platform.tenants.create("acme", requests_per_month=1000)
    key = platform.keys.create("acme").key
    _energy(platform, key, 2)
    platform.ingest()
    r = platform.client.get("/v1/usage", headers=platform.admin)
    assert r.status_code == 400 and "tenant: an admin key must name a tenant" in r.json()["error"]
    doc = platform.client.get("/v1/usage?tenant=acme&group_by=none", headers=platform.admin).json()
    assert doc["tenant"] == "acme" and doc["total"]["requests"] == 2
    assert doc["remaining"]["requests_per_month"]["used"] == 2
    assert platform.client.get("/v1/usage?tenant=ghost", headers=platform.admin).status_code == 404


def test_current_comes_from_the_database_when_the_limiter_cannot_tell(platform: Platform) -> None:  # noqa: F811
    platform.tenants.create("acme", requests_per_day=10)
    key = platform.keys.create("acme").key
    _energy(platform, key, 4)
    platform.ingest()
    limiter = platform.client.app.state.dataplane.service.limiter
    limiter.usage = lambda tenant: None  # as over the serving layer's actor, which reports no counters
    doc = platform.client.get("/v1/usage", headers=bearer(key)).json()
    assert doc["current"]["source"] == "database" and doc["current"]["day_requests"] == 4
    assert doc["remaining"]["requests_per_day"]["remaining"] == 6


def test_since_until_bound_the_rows(platform: Platform) -> None:  # noqa: F811
    platform.tenants.create("acme")
    key = platform.keys.create("acme").key
    start = platform.clock.now_s()
    _energy(platform, key, 1)
    platform.clock.advance(3600.0)
    middle = platform.clock.now_s()
    _energy(platform, key, 2)
    platform.ingest()
    c = platform.client
    assert c.get(f"/v1/usage?since={middle}", headers=bearer(key)).json()["total"]["requests"] == 2
    assert c.get(f"/v1/usage?since={start}&until={middle}", headers=bearer(key)).json()["total"]["requests"] == 1


def test_no_key_or_a_bad_key_is_401(platform: Platform) -> None:  # noqa: F811
    assert platform.client.get("/v1/usage").status_code == 401
    r = platform.client.get("/v1/usage", headers={"Authorization": "Bearer nope"})
    assert r.status_code == 401 and "malformed" in r.json()["error"]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("group_by=colour", "group_by: unknown group 'colour' (allowed: comma-separated day, month, tenant, key"),
        ("since=soon", "since: 'soon' is not a time (allowed: ISO-8601"),
        ("until=inf", "until: 'inf' is not a time"),
        ("since=2026-11-02&until=2026-11-01T00:00Z", "until: '2026-11-01T00:00Z' is not after since"),
        ("format=csv", "format: unknown query parameter (allowed: tenant, since, until, group_by)"),
    ],
)
def test_bad_parameters_are_400_naming_them(platform: Platform, query, message) -> None:  # noqa: F811
    platform.tenants.create("acme")
    key = platform.keys.create("acme").key
    r = platform.client.get(f"/v1/usage?{query}", headers=bearer(key))
    assert r.status_code == 400 and message in r.json()["error"], r.text


def test_times_in_every_allowed_form() -> None:
    q = parse_usage_query({"since": "2026-11-01", "until": "2026-11-01T12:00:00+02:00", "group_by": "tenant, day"})
    assert (q.since_s, q.until_s, q.group_by) == (1793491200.0, 1793491200.0 + 10 * 3600, ["tenant", "day"])
    assert parse_usage_query({"since": "1793491200.5", "group_by": "none"}).since_s == 1793491200.5
    assert parse_usage_query({}).group_by == ["day", "model", "tier"]
    with pytest.raises(InvalidInput, match="names a group twice"):
        parse_usage_query({"group_by": "day,day"})
