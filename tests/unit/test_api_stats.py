"""The V2 statistics extension: tritonclient.http's own get_inference_statistics (its URL building and JSON
parsing, unmodified) against the app in process (only its socket call is swapped for the TestClient)."""

from __future__ import annotations

import pytest
import tritonclient.http as triton
from tritonclient.utils import InferenceServerException

from tests.unit.admin_support import DIGITS, Platform, bearer, platform, world  # noqa: F401


class _Response:
    """What tritonclient reads of a geventhttpclient response: status_code and read()."""

    def __init__(self, r) -> None:
        self.status_code = r.status_code
        self._body = r.content

    def read(self) -> bytes:
        return self._body


def triton_client(test_client) -> triton.InferenceServerClient:
    client = triton.InferenceServerClient("localhost:1")  # never connected: _get goes to the TestClient
    client._get = lambda request_uri, headers, query_params: _Response(
        test_client.get("/" + request_uri, headers=dict(headers or {}), params=query_params))
    return client


def test_tritonclient_reads_the_statistics_after_known_requests(platform: Platform) -> None:  # noqa: F811
    platform.tenants.create("acme")
    key = platform.keys.create("acme").key
    bad = {"inputs": [{"name": "pixels", "datatype": "FP32", "shape": [1, 2], "data": [0.0, 0.0]}]}
    for _ in range(6):
        assert platform.infer(key) == 200
    for _ in range(2):
        r = platform.client.post("/v2/models/digits-mlp/infer", json=bad, headers=bearer(key))
        assert r.status_code == 400
    client = triton_client(platform.client)
    stats = client.get_inference_statistics("digits-mlp", headers=bearer(key))
    (entry,) = [s for s in stats["model_stats"] if s["inference_count"]]
    assert entry["name"] == "digits-mlp" and entry["inference_count"] == 6 == entry["execution_count"]
    inf = entry["inference_stats"]
    assert inf["success"]["count"] == 6 and inf["success"]["ns"] > 0
    assert inf["fail"]["count"] == 2
    assert inf["queue"]["count"] == 6 and inf["compute_infer"]["ns"] > 0
    assert inf["success"]["ns"] >= inf["compute_infer"]["ns"]
    assert entry["last_inference"] > 0
    one = client.get_inference_statistics("digits-mlp", entry["version"], headers=bearer(key))
    assert one["model_stats"] == [entry]
    everything = client.get_inference_statistics(headers=platform.admin)
    names = {s["name"] for s in everything["model_stats"]}
    assert "digits-mlp" in names and len(names) >= 2


def test_statistics_errors_are_triton_errors(platform: Platform) -> None:  # noqa: F811
    client = triton_client(platform.client)
    with pytest.raises(InferenceServerException) as missing_key:
        client.get_inference_statistics("digits-mlp")
    assert missing_key.value.status() == "401"
    with pytest.raises(InferenceServerException) as unknown:
        client.get_inference_statistics("no-such-model", headers=platform.admin)
    assert unknown.value.status() == "404"
