"""The admin API over a real data plane: admin key required (401/403), tenants and keys created, listed, changed,
revoked and rotated; every refused request is 400/404/409 naming the field and leaves the database unchanged;
changes reach this replica's authentication at once."""

from __future__ import annotations

import csv
import io

import pytest

from tests.unit.admin_support import Platform, bearer, platform, world  # noqa: F401

ROUTES = [
    ("post", "/admin/tenants", {"name": "acme"}),
    ("get", "/admin/tenants", None),
    ("get", "/admin/tenants/acme", None),
    ("patch", "/admin/tenants/acme", {"rpm": 5}),
    ("delete", "/admin/tenants/acme", None),
    ("post", "/admin/keys", {"tenant": "acme"}),
    ("get", "/admin/keys", None),
    ("get", "/admin/keys/abcdefghijkl", None),
    ("post", "/admin/keys/abcdefghijkl/revoke", None),
    ("post", "/admin/keys/abcdefghijkl/rotate", {}),
    ("get", "/admin/usage", None),
]


def _call(p: Platform, method: str, path: str, body: object, headers: dict[str, str] | None = None):
    return p.client.request(method.upper(), path, json=body, headers=headers or {})


@pytest.mark.parametrize(("method", "path", "body"), ROUTES)
def test_every_admin_route_needs_an_admin_key(platform: Platform, method, path, body) -> None:  # noqa: F811
    platform.tenants.create("acme")
    tenant_key = platform.keys.create("acme").key
    before = platform.state()
    r = _call(platform, method, path, body)
    assert r.status_code == 401 and "missing API key" in r.json()["error"]
    r = _call(platform, method, path, body, {"Authorization": "Bearer maas_abcdefghijkl_" + "a" * 32})
    assert r.status_code == 401 and "unknown API key" in r.json()["error"]
    r = _call(platform, method, path, body, bearer(tenant_key))
    assert r.status_code == 403 and "needs an admin key" in r.json()["error"]
    assert platform.state() == before


def test_tenant_lifecycle(platform: Platform) -> None:  # noqa: F811
    c, admin = platform.client, platform.admin
    body = {
        "name": "acme",
        "allowed_tiers": ["satellite", "ground"],
        "priority": 8,
        "rpm": 600,
        "limits": {"requests_per_day": 1000, "burst": 20},
    }
    r = c.post("/admin/tenants", json=body, headers=admin)
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["allowed_tiers"] == ["ground", "satellite"] and created["priority"] == 8
    assert created["limits"] | {} == {**created["limits"], "rpm": 600, "burst": 20, "requests_per_day": 1000}
    assert platform.tenants.get("acme").limits.requests_per_day == 1000
    assert [t["name"] for t in c.get("/admin/tenants", headers=admin).json()["tenants"]] == ["acme"]
    assert c.get("/admin/tenants/acme", headers=admin).json() == created
    r = c.patch(
        "/admin/tenants/acme", json={"allowed_tiers": None, "burst": None, "limits": {"rpm": 60}}, headers=admin
    )
    assert r.status_code == 200, r.text
    info = platform.tenants.get("acme")
    assert info.allowed_tiers is None and info.limits.burst is None and info.limits.rpm == 60
    assert info.limits.requests_per_day == 1000 and info.priority == 8  # untouched fields stay
    key = platform.keys.create("acme").key
    r = c.delete("/admin/tenants/acme", headers=admin)
    assert r.status_code == 200 and r.json()["deleted_at_s"] is not None
    assert platform.keys.list("acme")[0].revoked_at_s is not None
    assert platform.infer(key) == 401  # no clock advance: this replica forgot the key's cached state at once
    assert c.get("/admin/tenants", headers=admin).json()["tenants"] == []
    assert [t["name"] for t in c.get("/admin/tenants?deleted=true", headers=admin).json()["tenants"]] == ["acme"]
    assert c.patch("/admin/tenants/acme", json={"rpm": 1}, headers=admin).status_code == 409


BAD_TENANT_BODIES = [
    ({"name": "acme;drop"}, "name: 'acme;drop' is not a valid tenant name (allowed:"),
    ({}, "name: required (allowed:"),
    ({"name": "acme", "colour": "red"}, "colour: unknown field (allowed: name, contact"),
    ({"name": "acme", "rpm": -1}, "rpm: -1 is out of range (allowed: an integer in [0, 1000000]"),
    ({"name": "acme", "rpm": "fast"}, "rpm: 'fast' is not an integer (allowed:"),
    ({"name": "acme", "default_objective": "fast"}, "allowed: latency, balanced, energy, carbon"),
    ({"name": "acme", "allowed_tiers": ["mars"]}, "allowed: base-station, optical-access, ground, satellite"),
    ({"name": "acme", "allowed_tiers": "ground"}, "allowed_tiers: 'ground' is not a list of names (allowed:"),
    ({"name": "acme", "priority": 12}, "priority: 12 is out of range (allowed: an integer in [0, 9])"),
    ({"name": "acme", "limits": {"colour": 1}}, "limits.colour: unknown limit (allowed: rpm, burst"),
    ({"name": "acme", "limits": [1]}, "limits: [1] is not an object (allowed:"),
    ({"name": "acme", "burst": 5}, "burst needs rpm"),
    ({"name": "acme", "rpm": 5, "limits": {"rpm": 6}}, "rpm: given both flat and in limits"),
    ({"name": "taken"}, "name: tenant 'taken' exists or existed"),
    ([1, 2], "body: list is not a JSON object (allowed:"),
]


@pytest.mark.parametrize(("body", "message"), BAD_TENANT_BODIES)
def test_bad_create_is_400_naming_the_field_and_creates_nothing(platform: Platform, body, message) -> None:  # noqa: F811
    platform.tenants.create("taken")
    before = platform.state()
    r = platform.client.post("/admin/tenants", json=body, headers=platform.admin)
    assert r.status_code == 400 and message in r.json()["error"], r.text
    assert platform.state() == before


def test_a_body_that_is_not_json_is_400(platform: Platform) -> None:  # noqa: F811
    r = platform.client.post("/admin/tenants", content=b"{nope", headers=platform.admin)
    assert r.status_code == 400 and "body: not valid JSON (allowed: a JSON object with name" in r.json()["error"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "body: nothing to update (allowed: contact"),
        ({"name": "other"}, "name: unknown field (allowed: contact"),
        ({"rpm": 200, "max_concurrent": -4}, "max_concurrent: -4 is out of range"),
        ({"allowed_models": []}, "allowed_models: empty list"),
        ({"contact": 5}, "contact: 5 is not a string"),
        ({"rpm": None}, "burst needs rpm"),  # acme has burst 10: clearing rpm alone would leave it dangling
    ],
)
def test_bad_update_is_400_and_changes_nothing(platform: Platform, body, message) -> None:  # noqa: F811
    platform.tenants.create("acme", rpm=100, burst=10)
    before = platform.state()
    r = platform.client.patch("/admin/tenants/acme", json=body, headers=platform.admin)
    assert r.status_code == 400 and message in r.json()["error"], r.text
    assert platform.state() == before


def test_unknown_tenants_and_keys_are_404_malformed_ones_400(platform: Platform) -> None:  # noqa: F811
    c, admin = platform.client, platform.admin
    for method, path in (
        ("get", "/admin/tenants/ghost"),
        ("patch", "/admin/tenants/ghost"),
        ("delete", "/admin/tenants/ghost"),
        ("get", "/admin/keys?tenant=ghost"),
        ("get", "/admin/keys/abcdefghijkl"),
        ("post", "/admin/keys/abcdefghijkl/revoke"),
        ("post", "/admin/keys/abcdefghijkl/rotate"),
    ):
        r = c.request(method.upper(), path, json={"rpm": 1} if method == "patch" else None, headers=admin)
        assert r.status_code == 404, (path, r.text)
    assert c.get("/admin/tenants/Bad%20Name", headers=admin).status_code == 400
    key = platform.keys.create(None, scope="admin").key
    r = c.post(f"/admin/keys/{key}/revoke", headers=admin)  # a whole key in a URL: refused, not revoked
    assert r.status_code == 400 and "never put a whole key in a URL" in r.json()["error"]
    assert platform.keys.list()[-1].revoked_at_s is None
    assert c.get("/admin/tenants?deleted=maybe", headers=admin).status_code == 400
    r = c.get("/admin/tenants?colour=red", headers=admin)
    assert r.status_code == 400 and "colour: unknown query parameter (allowed: deleted)" in r.json()["error"]


def test_keys_create_list_revoke(platform: Platform) -> None:  # noqa: F811
    c, admin = platform.client, platform.admin
    platform.tenants.create("acme")
    r = c.post("/admin/keys", json={"tenant": "acme", "label": "ci", "expires_in_s": 86400}, headers=admin)
    assert r.status_code == 201, r.text
    issued = r.json()
    assert issued["tenant"] == "acme" and issued["expires_at_s"] == platform.clock.now_s() + 86400
    assert platform.infer(issued["key"]) == 200
    r = c.post("/admin/keys", json={"scope": "admin", "label": "ops"}, headers=admin)
    assert r.status_code == 201 and c.get("/admin/tenants", headers=bearer(r.json()["key"])).status_code == 200
    listed = c.get("/admin/keys", headers=admin)
    secrets = [issued["key"].split("_")[2], r.json()["key"].split("_")[2], platform.admin_key.split("_")[2]]
    assert not any(s in listed.text for s in secrets)  # never a secret, nor its HMAC column
    assert "secret" not in listed.text
    assert [k["scope"] for k in listed.json()["keys"]] == ["admin", "tenant", "admin"]
    only = c.get("/admin/keys?tenant=acme", headers=admin).json()["keys"]
    assert [k["key_id"] for k in only] == [issued["key_id"]] and only[0]["label"] == "ci"
    r = c.post(f"/admin/keys/{issued['key_id']}/revoke", headers=admin)
    assert r.status_code == 200 and r.json()["status"] == "revoked"
    assert platform.infer(issued["key"]) == 401  # at once on this replica (no cache TTL wait)
    assert c.post(f"/admin/keys/{issued['key_id']}/rotate", headers=admin).status_code == 409


def test_rotation_keeps_the_old_secret_for_the_overlap(platform: Platform) -> None:  # noqa: F811
    c, admin = platform.client, platform.admin
    platform.tenants.create("acme")
    old = platform.keys.create("acme")
    assert platform.infer(old.key) == 200
    r = c.post(f"/admin/keys/{old.key_id}/rotate", json={"overlap_s": 60}, headers=admin)
    assert r.status_code == 200, r.text
    new = r.json()
    assert new["key_id"] == old.key_id and new["key"] != old.key
    assert platform.infer(new["key"]) == 200 and platform.infer(old.key) == 200
    r = c.post(f"/admin/keys/{old.key_id}/rotate", json={"overlap_s": 60}, headers=admin)
    assert r.status_code == 400 and "already being rotated" in r.json()["error"]
    platform.clock.advance(61.0)
    assert platform.infer(old.key) == 401 and platform.infer(new["key"]) == 200


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "tenant: required for a tenant key"),
        ({"tenant": "acme", "scope": "root"}, "scope: 'root' is not known (allowed: tenant, admin)"),
        ({"tenant": "acme", "scope": "admin"}, "tenant: an admin key belongs to no tenant"),
        ({"tenant": "ghost"}, "tenant: no tenant named 'ghost'"),
        ({"tenant": "acme", "label": "x" * 100}, "label: at most 64 characters"),
        ({"tenant": "acme", "label": 7}, "label: 7 is not a string"),
        ({"tenant": "acme", "expires_in_s": -5}, "expires_in_s: -5 is out of range (allowed: seconds in"),
        ({"tenant": "acme", "secret": "mine"}, "secret: unknown field (allowed: tenant, scope, label, expires_in_s)"),
    ],
)
def test_bad_key_requests_are_400_and_create_nothing(platform: Platform, body, message) -> None:  # noqa: F811
    platform.tenants.create("acme")
    before = platform.state()
    r = platform.client.post("/admin/keys", json=body, headers=platform.admin)
    assert r.status_code == 400 and message in r.json()["error"], r.text
    assert platform.state() == before


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"overlap_s": -1}, "overlap_s: -1 is out of range"),
        ({"overlap_s": "soon"}, "overlap_s: 'soon' is out of range"),
        ({"force": "yes"}, "force: 'yes' is not a boolean (allowed: true, false)"),
        ({"grace": 5}, "grace: unknown field (allowed: overlap_s, force)"),
    ],
)
def test_bad_rotate_is_400_and_keeps_the_secret(platform: Platform, body, message) -> None:  # noqa: F811
    platform.tenants.create("acme")
    issued = platform.keys.create("acme")
    before = platform.state()
    r = platform.client.post(f"/admin/keys/{issued.key_id}/rotate", json=body, headers=platform.admin)
    assert r.status_code == 400 and message in r.json()["error"], r.text
    assert platform.state() == before and platform.infer(issued.key) == 200


def test_refused_revoke_and_delete_change_nothing(platform: Platform) -> None:  # noqa: F811
    platform.tenants.create("acme")
    issued = platform.keys.create("acme")
    before = platform.state()
    r = platform.client.post(f"/admin/keys/{issued.key_id}/revoke", json={"now": True}, headers=platform.admin)
    assert r.status_code == 400 and "now: unknown field (allowed: none)" in r.json()["error"]
    r = platform.client.request("DELETE", "/admin/tenants/acme", json={"hard": True}, headers=platform.admin)
    assert r.status_code == 400 and "hard: unknown field" in r.json()["error"]
    assert platform.state() == before and platform.infer(issued.key) == 200


def test_a_tenant_change_reaches_this_replica_at_once(platform: Platform) -> None:  # noqa: F811
    platform.tenants.create("acme")
    key = platform.keys.create("acme").key
    assert platform.infer(key, "minilm-embed") != 403  # the key's tenant snapshot is now cached
    r = platform.client.patch("/admin/tenants/acme", json={"allowed_models": ["digits-mlp"]}, headers=platform.admin)
    assert r.status_code == 200
    assert platform.infer(key, "minilm-embed") == 403  # no clock advance: the cache entry was invalidated
    assert platform.infer(key, "digits-mlp") == 200


def test_usage_report_json_and_csv(platform: Platform) -> None:  # noqa: F811
    c, admin = platform.client, platform.admin
    for name in ("acme", "beta"):
        platform.tenants.create(name)
        key = platform.keys.create(name).key
        for _ in range(2 if name == "acme" else 1):
            assert platform.infer(key) == 200
    platform.ingest()
    doc = c.get("/admin/usage?group_by=tenant", headers=admin).json()
    assert [(r["tenant"], r["requests"]) for r in doc["rows"]] == [("acme", 2), ("beta", 1)]
    assert doc["total"]["requests"] == 3 and doc["group_by"] == ["tenant"]
    only = c.get("/admin/usage?tenant=beta&group_by=none", headers=admin).json()
    assert only["rows"] == [only["total"]] and only["total"]["requests"] == 1  # no groups: one row
    r = c.get("/admin/usage?group_by=tenant,model&format=csv", headers=admin)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert [(x["tenant"], x["model"], x["requests"]) for x in rows] == [
        ("acme", "digits-mlp", "2"),
        ("beta", "digits-mlp", "1"),
    ]
    later = platform.clock.now_s() + 10
    assert c.get(f"/admin/usage?since={later}", headers=admin).json()["total"]["requests"] == 0


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("format=xml", "format: 'xml' is not known (allowed: json, csv)"),
        ("group_by=day,colour", "group_by: unknown group 'colour' (allowed: comma-separated day, month, tenant"),
        ("group_by=day,day", "names a group twice"),
        ("since=yesterday", "since: 'yesterday' is not a time (allowed: ISO-8601"),
        ("since=2026-11-02&until=2026-11-01", "until: '2026-11-01' is not after since"),
        ("tenant=Bad!", "name: 'Bad!' is not a valid tenant name"),
        ("colour=red", "colour: unknown query parameter (allowed: tenant, since, until, group_by, format)"),
        ("since=1&since=2", "since: given more than once"),
    ],
)
def test_bad_usage_queries_are_400(platform: Platform, query, message) -> None:  # noqa: F811
    r = platform.client.get(f"/admin/usage?{query}", headers=platform.admin)
    assert r.status_code == 400 and message in r.json()["error"], r.text
