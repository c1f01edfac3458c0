"""V2 REST endpoints over the real data plane (real onnxruntime models in-process, virtual time, no sockets)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.support.reference import run_onnx_directly, sample_inputs, v2_inputs

MODELS = ["digits-mlp", "maintenance-clf", "minilm-embed"]


def test_health_and_server_metadata(local):
    client, _, _ = local
    assert client.get("/v2/health/live").json() == {"live": True}
    ready = client.get("/v2/health/ready")
    assert ready.status_code == 200 and ready.json() == {"ready": True}
    meta = client.get("/v2").json()
    assert meta["name"] == "maas" and "binary_tensor_data" in meta["extensions"]


@pytest.mark.parametrize("model", MODELS)
def test_model_metadata_and_ready(local, catalog, model):
    client, _, topology = local
    manifest = catalog.get(model)
    meta = client.get(f"/v2/models/{model}").json()
    assert meta["name"] == model and meta["versions"] == [manifest.version]
    assert meta["inputs"] == [{"name": t.name, "datatype": t.datatype, "shape": t.shape} for t in manifest.inputs]
    assert meta["maas"]["tiers"] == list(topology.tier_names)
    assert client.get(f"/v2/models/{model}/versions/{manifest.version}").json() == meta
    assert client.get(f"/v2/models/{model}/ready").json() == {"name": model, "ready": True}


@pytest.mark.parametrize("model", MODELS)
def test_infer_pinned_to_every_tier_matches_onnxruntime(local, catalog, models_dir, model):
    client, _, topology = local
    manifest = catalog.get(model)
    for tier in topology.tier_names:
        resp = client.post(
            f"/v2/models/{model}/infer", json={"id": f"req-{tier}", "parameters": {"tier": tier}, "inputs": v2_inputs(model)}
        )
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert body["id"] == f"req-{tier}" and body["model_name"] == model
        params = body["parameters"]
        assert params["tier"] == tier
        assert params["variant"] == topology.tiers[tier].precision
        expected = run_onnx_directly(manifest, models_dir, params["variant"], sample_inputs(model))
        got = {o["name"]: o for o in body["outputs"]}
        assert set(got) == {t.name for t in manifest.outputs}
        for name, ref in expected.items():
            if name not in got:
                continue
            out = np.array(got[name]["data"], dtype=ref.dtype).reshape(got[name]["shape"])
            np.testing.assert_allclose(out, ref.reshape(out.shape), rtol=1e-5, atol=1e-6)
        parts = sum(params[k] for k in ("uplink_ms", "queue_ms", "compute_ms", "downlink_ms", "platform_ms"))
        assert params["latency_ms"] == pytest.approx(parts, abs=0.01)
        assert params["energy_j"] > 0 and params["carbon_g"] >= 0


def test_emulated_network_delay_goes_through_the_clock(local):
    client, clock, _ = local
    before = len(clock.slept_s)
    resp = client.post("/v2/models/digits-mlp/infer", json={"parameters": {"tier": "ground"}, "inputs": v2_inputs("digits-mlp")})
    params = resp.json()["parameters"]
    slept_ms = [s * 1e3 for s in clock.slept_s[before:]]
    assert params["uplink_ms"] > 0 and params["downlink_ms"] > 0
    assert slept_ms[0] == pytest.approx(params["uplink_ms"], abs=1e-3)
    assert slept_ms[-1] == pytest.approx(params["downlink_ms"], abs=1e-3)


def test_headers_carry_hints_and_id_is_generated(local):
    client, _, _ = local
    resp = client.post(
        "/v2/models/digits-mlp/infer", json={"inputs": v2_inputs("digits-mlp")}, headers={"X-Maas-Tier": "satellite"}
    )
    body = resp.json()
    assert resp.status_code == 200, resp.text
    assert body["parameters"]["tier"] == "satellite"
    assert isinstance(body["id"], str) and len(body["id"]) >= 16


def test_binary_request_and_binary_response(local, catalog, models_dir):
    client, _, _ = local
    rows = sample_inputs("digits-mlp")["pixels"]
    raw = rows.astype("<f4").tobytes()
    header = json.dumps({
        "inputs": [{"name": "pixels", "datatype": "FP32", "shape": list(rows.shape), "parameters": {"binary_data_size": len(raw)}}],
        "outputs": [{"name": "label", "parameters": {"binary_data": True}}],
        "parameters": {"tier": "ground"},
    }).encode()
    resp = client.post(
        "/v2/models/digits-mlp/infer",
        content=header + raw,
        headers={"Inference-Header-Content-Length": str(len(header)), "Content-Type": "application/octet-stream"},
    )
    assert resp.status_code == 200, resp.text
    hlen = int(resp.headers["Inference-Header-Content-Length"])
    doc = json.loads(resp.content[:hlen])
    assert [o["name"] for o in doc["outputs"]] == ["label"]
    labels = np.frombuffer(resp.content[hlen:], dtype="<i8")
    assert doc["outputs"][0]["parameters"]["binary_data_size"] == labels.nbytes == 8 * rows.shape[0]
    expected = run_onnx_directly(catalog.get("digits-mlp"), models_dir, "fp32", {"pixels": rows})["label"]
    assert labels.tolist() == expected.reshape(-1).tolist()


def test_deadline_is_reported_and_a_strict_impossible_deadline_is_503(local):
    client, _, _ = local
    ok = client.post("/v2/models/digits-mlp/infer", json={"parameters": {"deadline_ms": 10000}, "inputs": v2_inputs("digits-mlp")})
    assert ok.json()["parameters"]["deadline_met"] is True
    strict = client.post(
        "/v2/models/minilm-embed/infer",
        json={"parameters": {"deadline_ms": 0.001, "strict": True}, "inputs": v2_inputs("minilm-embed")},
    )
    assert strict.status_code == 503
    assert "strict deadline" in strict.json()["error"]


def _infer(client, model, body, **kw):
    return client.post(f"/v2/models/{model}/infer", content=body if isinstance(body, bytes) else json.dumps(body), **kw)


PIXELS = {"name": "pixels", "datatype": "FP32", "shape": [1, 64], "data": [0.0] * 64}
BAD_REQUESTS = [
    ("malformed JSON", "digits-mlp", b'{"inputs": [', {}, 400, "not valid JSON"),
    ("missing input", "maintenance-clf", {"inputs": [PIXELS]}, {}, 400, "unknown input 'pixels'"),
    ("extra input", "digits-mlp", {"inputs": [PIXELS, {**PIXELS, "name": "extra"}]}, {}, 400, "unknown input 'extra'"),
    ("misnamed input", "digits-mlp", {"inputs": [{**PIXELS, "name": "pixel"}]}, {}, 400, "expected: pixels"),
    ("shape vs data", "digits-mlp", {"inputs": [{**PIXELS, "shape": [2, 64]}]}, {}, 400, "needs 128 elements"),
    ("wrong shape", "digits-mlp", {"inputs": [{**PIXELS, "shape": [1, 63], "data": [0.0] * 63}]}, {}, 400, "expects [-1, 64]"),
    ("wrong datatype", "digits-mlp", {"inputs": [{**PIXELS, "datatype": "FP64"}]}, {}, 400, "expects FP32"),
    ("unknown model", "nope", {"inputs": [PIXELS]}, {}, 404, "nope"),
    ("unknown tier", "digits-mlp", {"parameters": {"tier": "moon"}, "inputs": [PIXELS]}, {}, 400, "allowed: "),
    ("unknown tier header", "digits-mlp", {"inputs": [PIXELS]}, {"headers": {"X-Maas-Tier": "moon"}}, 400, "moon"),
    ("unknown site", "digits-mlp", {"parameters": {"site": "atlantis"}, "inputs": [PIXELS]}, {}, 400, "atlantis"),
    ("bad objective", "digits-mlp", {"parameters": {"objective": "speed"}, "inputs": [PIXELS]}, {}, 400, "latency, balanced"),
    ("bad deadline", "digits-mlp", {"parameters": {"deadline_ms": -5}, "inputs": [PIXELS]}, {}, 400, "deadline_ms"),
    ("unknown output", "digits-mlp", {"inputs": [PIXELS], "outputs": [{"name": "logits"}]}, {}, 400, "unknown output"),
    ("batch too big", "digits-mlp", {"inputs": [{**PIXELS, "shape": [65, 64], "data": [0.0] * 64 * 65}]}, {}, 400, "batch size"),
    ("header length mismatch", "digits-mlp", {"inputs": [PIXELS]}, {"headers": {"Inference-Header-Content-Length": "99999"}}, 400, "Inference-Header-Content-Length"),
    ("header length not a number", "digits-mlp", {"inputs": [PIXELS]}, {"headers": {"Inference-Header-Content-Length": "ten"}}, 400, "integer"),
    ("over the size limit", "digits-mlp", b"x" * (64 * 1024 + 1), {}, 413, "exceeds the limit"),
    ("bad encoding", "digits-mlp", b"abc", {"headers": {"Content-Encoding": "gzip"}}, 400, "not valid gzip"),
]


@pytest.mark.parametrize(("case", "model", "body", "kw", "status", "fragment"), BAD_REQUESTS, ids=[b[0] for b in BAD_REQUESTS])
def test_bad_input_gets_a_precise_4xx_and_the_server_stays_healthy(local, case, model, body, kw, status, fragment):
    client, _, _ = local
    resp = _infer(client, model, body, **kw)
    assert resp.status_code == status, resp.text
    assert fragment in resp.json()["error"]
    assert client.get("/v2/health/live").json() == {"live": True}
    assert _infer(client, "digits-mlp", {"inputs": [PIXELS]}).status_code == 200


def test_unknown_version_and_routes_are_json_errors(local):
    client, _, _ = local
    resp = client.get("/v2/models/digits-mlp/versions/99")
    assert resp.status_code == 404 and "99" in resp.json()["error"]
    assert client.get("/v2/nothing").json()["error"]
    assert client.get("/v2/models/digits-mlp/infer").status_code == 405
