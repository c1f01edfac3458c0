"""Goodput over the HTTP shell: when every tier's queue puts a request past its deadline, the gateway answers a
fast 503 with Retry-After and says why, instead of serving it late; without a deadline it is served."""

from __future__ import annotations

import pytest

from tests.unit.conftest import make_client

DIGITS = {"inputs": [{"name": "pixels", "datatype": "FP32", "shape": [1, 64], "data": [0.0] * 64}]}


@pytest.fixture()
def client(models_dir, catalog):
    client, clock, topology = make_client(models_dir, catalog)
    with client:
        yield client, topology


def test_overloaded_tiers_give_a_fast_503_with_retry_after(client) -> None:
    client, topology = client
    placer = client.app.state.dataplane._placer
    for tier in topology.tier_names:  # 10 million requests of ~3 us ahead on every tier: seconds of queue
        placer._queue("digits-mlp", tier).in_flight[0] = 10_000_000
    r = client.post("/v2/models/digits-mlp/infer", json={**DIGITS, "parameters": {"deadline_ms": 50}})
    assert r.status_code == 503 and r.json()["error"].startswith("overloaded")
    assert int(r.headers["retry-after"]) >= 1
    assert client.post("/v2/models/digits-mlp/infer", json=DIGITS).status_code == 200  # no deadline: served
    for tier in topology.tier_names:
        placer._queue("digits-mlp", tier).in_flight[0] = 0
    r = client.post("/v2/models/digits-mlp/infer", json={**DIGITS, "parameters": {"deadline_ms": 50}})
    assert r.status_code == 200
