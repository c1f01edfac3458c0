"""The serving path on real Ray Serve over real HTTP: every model on every tier, standard clients, bad input."""

from __future__ import annotations

import json

import httpx
import numpy as np
import pytest
import tritonclient.http as triton

from maas.polling import poll_until
from tests.support.reference import run_onnx_directly, sample_inputs, v2_inputs


@pytest.fixture(scope="module")
def http(base_url, dev_key):
    with httpx.Client(base_url=base_url, timeout=30.0, headers={"Authorization": f"Bearer {dev_key}"}) as client:
        yield client


def test_every_model_on_every_tier_matches_onnxruntime(http, platform, catalog, models_dir):
    _, placements, topology = platform
    for model, tiers in placements.items():
        manifest = catalog.get(model)
        for tier in tiers:
            resp = http.post(f"/v2/models/{model}/infer", json={"parameters": {"tier": tier}, "inputs": v2_inputs(model)})
            assert resp.status_code == 200, resp.text
            body = resp.json()
            assert body["parameters"]["tier"] == tier
            variant = topology.tiers[tier].precision
            expected = run_onnx_directly(manifest, models_dir, variant, sample_inputs(model))
            for out in body["outputs"]:
                ref = expected[out["name"]]
                got = np.array(out["data"], dtype=ref.dtype).reshape(out["shape"])
                np.testing.assert_allclose(got, ref.reshape(got.shape), rtol=1e-5, atol=1e-6)


def test_tiers_run_beside_the_gateway_and_answer_as_over_ray(http, platform, two_hop_url, dev_key):
    """One hop less (maas.serving.colocated): on the embedded single node every tier runs in the gateway's process
    once its first request has gone over Ray; outputs are the same as the two-hop gateway's."""
    settings, placements, topology = platform
    admin = {"Authorization": f"Bearer {(settings.data_dir / 'admin.key').read_text().strip()}"}
    wanted = {(m, t) for m, tiers in placements.items() for t in tiers}

    def body(model, tier):
        return {"parameters": {"tier": tier}, "inputs": v2_inputs(model)}

    def status() -> dict:
        return http.get("/ui/api/status", headers=admin).json()

    def built() -> set[tuple[str, str]]:
        return {(ref.partition(":")[0], ref.partition("@")[2]) for ref in status()["in_process"]}

    def all_built() -> bool:  # each (model, tier)'s first request starts its worker's build
        missing = wanted - built()
        for model, tier in sorted(missing):
            assert http.post(f"/v2/models/{model}/infer", json=body(model, tier)).status_code == 200
        return not missing

    poll_until(all_built, timeout_s=60, what="every model's worker built beside the gateway")
    assert {t["tier"]: t["hop"] for t in status()["tiers"]} == {t: "in-process" for t in topology.tier_names}
    with httpx.Client(base_url=two_hop_url, timeout=30.0, headers={"Authorization": f"Bearer {dev_key}"}) as over_ray:
        for model, tier in sorted(wanted):
            one = http.post(f"/v2/models/{model}/infer", json=body(model, tier)).json()
            two = over_ray.post(f"/v2/models/{model}/infer", json=body(model, tier)).json()
            assert one["parameters"]["tier"] == two["parameters"]["tier"] == tier
            for a, b in zip(one["outputs"], two["outputs"], strict=True):
                assert a["name"] == b["name"] and a["shape"] == b["shape"]
                np.testing.assert_allclose(np.array(a["data"], dtype=float), np.array(b["data"], dtype=float), rtol=1e-6)


def test_unpinned_request_is_routed_and_accounted(http):
    resp = http.post("/v2/models/digits-mlp/infer", json={"parameters": {"deadline_ms": 500}, "inputs": v2_inputs("digits-mlp")})
    params = resp.json()["parameters"]
    assert params["tier"] in ("base-station", "optical-access", "ground", "satellite")
    assert params["policy"] and params["energy_j"] > 0 and "deadline_met" in params


def test_tritonclient_works_unmodified(base_url, platform, catalog, models_dir, auth_headers):
    client = triton.InferenceServerClient(url=base_url.removeprefix("http://"))
    assert client.is_server_live() and client.is_server_ready()  # health needs no key
    with pytest.raises(triton.InferenceServerException, match="missing API key"):
        client.get_model_metadata("digits-mlp")
    assert client.is_model_ready("digits-mlp", headers=auth_headers)
    meta = client.get_model_metadata("digits-mlp", headers=auth_headers)
    assert meta["inputs"][0]["name"] == "pixels"
    rows = sample_inputs("digits-mlp")["pixels"]
    inp = triton.InferInput("pixels", list(rows.shape), "FP32")
    inp.set_data_from_numpy(rows, binary_data=True)
    outputs = [triton.InferRequestedOutput("probabilities", binary_data=True), triton.InferRequestedOutput("label")]
    result = client.infer("digits-mlp", [inp], outputs=outputs, request_id="t-1", parameters={"tier": "optical-access"},
                          headers=auth_headers)
    variant = platform[2].tiers["optical-access"].precision
    expected = run_onnx_directly(catalog.get("digits-mlp"), models_dir, variant, {"pixels": rows})
    np.testing.assert_allclose(result.as_numpy("probabilities"), expected["probabilities"], rtol=1e-5)
    assert result.as_numpy("label").tolist() == expected["label"].reshape(-1).tolist()
    response = result.get_response()
    assert response["id"] == "t-1" and response["parameters"]["tier"] == "optical-access"
    text = triton.InferInput("text", [2], "BYTES")
    text.set_data_from_numpy(np.array([b"hello world", b"edge inference"], dtype=object))
    emb = client.infer("minilm-embed", [text], headers=auth_headers).as_numpy("embedding")
    assert emb.shape == (2, 384)
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-4)


@pytest.mark.parametrize(
    ("body", "headers", "status", "fragment"),
    [
        (b"{oops", {}, 400, "not valid JSON"),
        (json.dumps({"inputs": [{"name": "pixels", "datatype": "FP32", "shape": [1, 64], "data": [0] * 63}]}).encode(), {}, 400, "needs 64"),
        (b"x" * (17 * 1024 * 1024), {}, 413, "exceeds the limit"),
        (json.dumps({"inputs": []}).encode(), {"X-Maas-Site": "nowhere"}, 400, "empty"),
    ],
)
def test_bad_input_over_real_http(http, body, headers, status, fragment):
    resp = http.post("/v2/models/digits-mlp/infer", content=body, headers=headers)
    assert resp.status_code == status
    assert fragment in resp.json()["error"]
    assert http.get("/v2/health/live").json() == {"live": True}


def test_unknown_model_is_404_json(http):
    resp = http.post("/v2/models/gpt-9/infer", json={"inputs": v2_inputs("digits-mlp")})
    assert resp.status_code == 404 and "gpt-9" in resp.json()["error"]


def test_inference_without_a_key_is_401_and_with_a_revoked_one_too(base_url, platform, http):
    from maas.clock import WallClock
    from maas.metering import Keys, Tenants, load_server_secret
    from maas.polling import poll_until
    from maas.store import make_engine

    settings = platform[0]
    body = {"inputs": v2_inputs("digits-mlp")}
    anonymous = httpx.post(f"{base_url}/v2/models/digits-mlp/infer", json=body, timeout=30)
    assert anonymous.status_code == 401 and "missing API key" in anonymous.json()["error"]
    engine = make_engine(settings.effective_database_url())
    clock = WallClock()
    Tenants(engine, clock).create("it-revoke")
    keys = Keys(engine, load_server_secret(settings.data_dir), clock)
    issued = keys.create("it-revoke")
    bearer = {"Authorization": f"Bearer {issued.key}"}
    assert httpx.post(f"{base_url}/v2/models/digits-mlp/infer", json=body, headers=bearer, timeout=30).status_code == 200
    keys.revoke(issued.key_id)
    revoked_at = clock.now_s()
    poll_until(lambda: httpx.post(f"{base_url}/v2/models/digits-mlp/infer", json=body, headers=bearer,
                                  timeout=30).status_code == 401, timeout_s=5.0, what="the revocation")
    assert clock.now_s() - revoked_at < 2.0  # within ~1 s (cache TTL 0.5 s), with slack for this shared host
