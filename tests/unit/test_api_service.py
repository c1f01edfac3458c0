"""The service side of the data plane, through real HTTP handling: keys (401), tenants' models and tiers (403),
limits (429 with Retry-After and x-ratelimit-* headers), tenant defaults, and one usage record per request whose
energy equals what the responses said."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from maas.metering import Keys, Tenants, load_server_secret
from maas.metering.usage import usage_report
from maas.metering.usage_ingest import ingest
from maas.store import make_engine, migrate
from tests.unit.conftest import make_client

DIGITS = {"inputs": [{"name": "pixels", "datatype": "FP32", "shape": [1, 64], "data": [0.0] * 64}]}


@pytest.fixture()
def service(models_dir, catalog):
    data_dir = Path(tempfile.mkdtemp(prefix="maas-svc-"))
    client, clock, topology = make_client(models_dir, catalog, auth=True, data_dir=data_dir)
    engine = make_engine(f"sqlite:///{data_dir / 'maas.db'}")
    migrate(engine)
    tenants, keys = Tenants(engine, clock), Keys(engine, load_server_secret(data_dir), clock)
    with client:
        yield client, clock, engine, tenants, keys, data_dir


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_inference_and_metadata_need_a_key_health_does_not(service) -> None:
    client, _, _, tenants, keys, _ = service
    assert client.get("/v2/health/live").status_code == 200
    for method, path in (("post", "/v2/models/digits-mlp/infer"), ("get", "/v2/models"),
                         ("get", "/v2/models/digits-mlp")):
        r = getattr(client, method)(path, **({"json": DIGITS} if method == "post" else {}))
        assert r.status_code == 401 and "missing API key" in r.json()["error"]
    r = client.post("/v2/models/digits-mlp/infer", json=DIGITS, headers={"Authorization": "Bearer sk-nope"})
    assert r.status_code == 401 and "malformed" in r.json()["error"]
    tenants.create("acme")
    key = keys.create("acme").key
    r = client.post("/v2/models/digits-mlp/infer", json=DIGITS, headers=_bearer(key))
    assert r.status_code == 200, r.text


def test_a_revoked_key_is_refused_once_the_cache_expires(service) -> None:
    client, clock, _, tenants, keys, _ = service
    tenants.create("acme")
    issued = keys.create("acme")
    assert client.post("/v2/models/digits-mlp/infer", json=DIGITS, headers=_bearer(issued.key)).status_code == 200
    keys.revoke(issued.key_id)
    clock.advance(0.6)  # auth_cache_ttl_s is 0.5 s: revocation holds within 1 s on every replica
    r = client.post("/v2/models/digits-mlp/infer", json=DIGITS, headers=_bearer(issued.key))
    assert r.status_code == 401 and "revoked" in r.json()["error"]


def test_models_and_tiers_a_tenant_may_not_use_are_403_and_never_chosen(service) -> None:
    client, _, _, tenants, keys, _ = service
    tenants.create("local", allowed_models=["digits-mlp"], allowed_tiers=["ground", "base-station"])
    key = keys.create("local").key
    r = client.post("/v2/models/minilm-embed/infer", json=DIGITS, headers=_bearer(key))
    assert r.status_code == 403 and "not available to tenant 'local'" in r.json()["error"]
    assert client.get("/v2/models/minilm-embed", headers=_bearer(key)).status_code == 403
    assert [m["name"] for m in client.get("/v2/models", headers=_bearer(key)).json()["models"]] == ["digits-mlp"]
    pinned = {**DIGITS, "parameters": {"tier": "satellite"}}
    r = client.post("/v2/models/digits-mlp/infer", json=pinned, headers=_bearer(key))
    assert r.status_code == 403 and "tier 'satellite' is not allowed" in r.json()["error"]
    for objective in ("latency", "energy", "carbon", "balanced"):
        body = {**DIGITS, "parameters": {"objective": objective}}
        r = client.post("/v2/models/digits-mlp/infer", json=body, headers=_bearer(key))
        assert r.status_code == 200 and r.json()["parameters"]["tier"] in ("ground", "base-station")


def test_a_burst_past_the_rate_limit_is_429_with_retry_after_and_headers(service) -> None:
    client, clock, _, tenants, keys, _ = service
    tenants.create("acme", rpm=60, burst=3)
    key = keys.create("acme").key
    answers = [client.post("/v2/models/digits-mlp/infer", json=DIGITS, headers=_bearer(key)) for _ in range(4)]
    assert [r.status_code for r in answers] == [200, 200, 200, 429]
    assert answers[0].headers["x-ratelimit-limit-requests"] == "60"  # per minute, as OpenAI reports it
    assert [r.headers["x-ratelimit-remaining-requests"] for r in answers[:3]] == ["2", "1", "0"]
    refused = answers[3]
    assert refused.json()["reason"] == "rate_limit" and int(refused.headers["retry-after"]) >= 1
    clock.advance(1.0)  # 60 rpm: one token a second
    assert client.post("/v2/models/digits-mlp/infer", json=DIGITS, headers=_bearer(key)).status_code == 200


def test_tenant_defaults_fill_what_the_request_does_not_say(service) -> None:
    client, _, _, tenants, keys, _ = service
    tenants.create("acme", default_deadline_ms=77, default_objective="energy")
    key = keys.create("acme").key
    params = client.post("/v2/models/digits-mlp/infer", json=DIGITS, headers=_bearer(key)).json()["parameters"]
    assert params["deadline_ms"] == 77
    body = {**DIGITS, "parameters": {"deadline_ms": 30}}
    params = client.post("/v2/models/digits-mlp/infer", json=body, headers=_bearer(key)).json()["parameters"]
    assert params["deadline_ms"] == 30


def test_every_request_is_metered_and_energy_matches_the_responses(service) -> None:
    client, _, engine, tenants, keys, data_dir = service
    tenants.create("acme", rpm=600, burst=8)
    key = keys.create("acme").key
    energy = 0.0
    statuses = []
    for i in range(12):
        body = DIGITS if i % 5 else {"inputs": [{"name": "wrong", "datatype": "FP32", "shape": [1], "data": [1]}]}
        r = client.post("/v2/models/digits-mlp/infer", json=body, headers=_bearer(key))
        statuses.append(r.status_code)
        if r.status_code == 200:
            energy += r.json()["parameters"]["energy_j"]
    client.post("/v2/models/digits-mlp/infer", json=DIGITS)  # no key: 401, never billed to anyone
    assert statuses.count(429) >= 1 and statuses.count(400) >= 1
    client.app.state.dataplane.service.journal.rotate()  # what the replica's ingester does every interval
    ingest(engine, data_dir / "journal")
    total = usage_report(engine, tenant="acme", group_by=())["total"]
    assert total["requests"] == len(statuses)
    assert total["ok"] == statuses.count(200)
    assert total["refused"] == statuses.count(429)
    assert total["energy_j"] == pytest.approx(energy, rel=1e-6)
    everyone = usage_report(engine, group_by=("tenant",))["rows"]
    assert [row["tenant"] for row in everyone] == ["acme"]
