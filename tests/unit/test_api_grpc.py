"""The gRPC Open Inference Protocol shell (maas.api.grpc_service) over a real in-process data plane (real ONNX
sessions, virtual time, auth on), served by grpc.aio on a free local port and driven by unmodified
tritonclient.grpc: health, metadata, inference (raw and typed contents), routing hints, response parameters, and
every error as its gRPC status, with the server still serving afterwards."""

from __future__ import annotations

import asyncio
import json
import tempfile
import threading
from pathlib import Path
from types import SimpleNamespace

import grpc
import httpx
import numpy as np
import pytest
import tritonclient.grpc as triton
from tritonclient.grpc import service_pb2 as pb
from tritonclient.grpc import service_pb2_grpc as pb_grpc
from tritonclient.utils import InferenceServerException

from maas.api.grpc_service import create_grpc_server, grpc_code
from maas.metering import Keys, Tenants, load_server_secret
from maas.store import make_engine, migrate
from tests.support.reference import SENTENCES, digits_rows, run_onnx_directly
from tests.unit.conftest import make_client

T_S = 60.0  # every client call's timeout


class LoopThread:
    """An event loop in a thread: the grpc.aio server and the data plane live on it, the sync client calls in."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro, timeout_s: float = T_S):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout_s)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=T_S)
        self.loop.close()


@pytest.fixture(scope="module")
def plane(models_dir, catalog):
    data_dir = Path(tempfile.mkdtemp(prefix="maas-grpc-"))
    client, clock, topology = make_client(models_dir, catalog, auth=True, data_dir=data_dir, max_body_bytes=64 * 1024)
    dataplane = client.app.state.dataplane
    engine = make_engine(f"sqlite:///{data_dir / 'maas.db'}")
    migrate(engine)
    tenants, keys = Tenants(engine, clock), Keys(engine, load_server_secret(data_dir), clock)
    tenants.create("acme")
    key = keys.create("acme").key
    loop = LoopThread()

    async def start():
        server, port = create_grpc_server(dataplane, host="127.0.0.1", port=0, max_body_bytes=64 * 1024)
        await server.start()
        return server, port

    server, port = loop.run(start())
    try:
        yield SimpleNamespace(url=f"127.0.0.1:{port}", port=port, app=client.app, dataplane=dataplane, loop=loop,
                              tenants=tenants, keys=keys, clock=clock, topology=topology,
                              auth={"authorization": f"Bearer {key}"})
    finally:
        loop.run(server.stop(None))
        dataplane.service.close()
        loop.close()


@pytest.fixture()
def client(plane):
    with triton.InferenceServerClient(plane.url) as c:
        yield c


def _pixels(rows: np.ndarray) -> triton.InferInput:
    tensor = triton.InferInput("pixels", list(rows.shape), "FP32")
    tensor.set_data_from_numpy(rows)
    return tensor


def _params(result: triton.InferResult) -> dict:
    return {k: getattr(v, v.WhichOneof("parameter_choice")) for k, v in result.get_response().parameters.items()}


def _status(call) -> tuple[str, str]:
    with pytest.raises(InferenceServerException) as info:
        call()
    return info.value.status(), info.value.message()


def _rest_infer(plane, body: dict, headers: dict) -> httpx.Response:
    """The REST shell's answer over the same data plane, on the same loop (ASGI in-process)."""

    async def post():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=plane.app), base_url="http://rest") as c:
            return await c.post("/v2/models/digits-mlp/infer", json=body, headers=headers)

    return plane.loop.run(post())


def test_health_and_metadata(plane, client) -> None:
    assert client.is_server_live(client_timeout=T_S) and client.is_server_ready(client_timeout=T_S)
    server = client.get_server_metadata(client_timeout=T_S)
    assert server.name == "maas" and "binary_tensor_data" in server.extensions
    meta = client.get_model_metadata("digits-mlp", headers=plane.auth, client_timeout=T_S)
    assert meta.name == "digits-mlp" and meta.platform == "onnxruntime_onnx"
    assert [(t.name, t.datatype, list(t.shape)) for t in meta.inputs] == [("pixels", "FP32", [-1, 64])]
    assert [t.name for t in meta.outputs] == ["probabilities", "label"]
    assert client.is_model_ready("digits-mlp", headers=plane.auth, client_timeout=T_S)


def test_infer_matches_onnxruntime_and_the_rest_path(plane, client, catalog, models_dir) -> None:
    rows = digits_rows(3)
    for tier in ("ground", "satellite"):  # fp32 and the satellite's own precision
        result = client.infer("digits-mlp", [_pixels(rows)], headers=plane.auth, client_timeout=T_S,
                              parameters={"tier": tier, "deadline_ms": 5000.0, "objective": "energy"})
        params = _params(result)
        assert params["tier"] == tier and params["model_version"] and params["latency_ms"] > 0
        assert params["energy_j"] > 0 and params["deadline_ms"] == 5000.0 and params["deadline_met"] is True
        variant = plane.topology.tiers[tier].precision
        expected = run_onnx_directly(catalog.get("digits-mlp"), models_dir, variant, {"pixels": rows})
        np.testing.assert_allclose(result.as_numpy("probabilities"), expected["probabilities"], rtol=1e-5, atol=1e-6)
        labels = result.as_numpy("label")
        assert labels.dtype == np.int64 and labels.tolist() == expected["label"].tolist()
        rest = _rest_infer(plane, {"parameters": {"tier": tier}, "inputs": [
            {"name": "pixels", "datatype": "FP32", "shape": [3, 64], "data": rows.reshape(-1).tolist()}]},
            {"Authorization": plane.auth["authorization"]})
        assert rest.status_code == 200, rest.text
        by_name = {o["name"]: np.array(o["data"]).reshape(o["shape"]) for o in rest.json()["outputs"]}
        np.testing.assert_allclose(result.as_numpy("probabilities"), by_name["probabilities"], rtol=1e-6)
        assert labels.tolist() == by_name["label"].tolist() == by_name["probabilities"].argmax(axis=1).tolist()


def test_requested_outputs_request_id_and_metadata_hints(plane, client) -> None:
    result = client.infer("digits-mlp", [_pixels(digits_rows(1))], outputs=[triton.InferRequestedOutput("label")],
                          request_id="req-7", headers={**plane.auth, "x-maas-tier": "base-station"},
                          client_timeout=T_S)
    response = result.get_response()
    assert [o.name for o in response.outputs] == ["label"] and response.id == "req-7"
    assert response.model_name == "digits-mlp" and _params(result)["tier"] == "base-station"
    explained = client.infer("digits-mlp", [_pixels(digits_rows(1))], parameters={"explain": True},
                             headers=plane.auth, client_timeout=T_S)
    decision = json.loads(_params(explained)["decision"])  # the routing decision, a JSON string as over REST
    assert decision["ranking"][0] == _params(explained)["tier"] and set(decision["tiers"]) == set(plane.topology.tiers)


def test_typed_contents_answer_as_raw_contents(plane, client) -> None:
    rows = digits_rows(2)
    raw = client.infer("digits-mlp", [_pixels(rows)], parameters={"tier": "ground"}, headers=plane.auth,
                       client_timeout=T_S)
    request = pb.ModelInferRequest(model_name="digits-mlp")
    request.parameters["tier"].string_param = "ground"
    tensor = request.inputs.add(name="pixels", datatype="FP32", shape=[2, 64])
    tensor.contents.fp32_contents.extend(rows.reshape(-1).tolist())
    with grpc.insecure_channel(plane.url) as channel:
        typed = pb_grpc.GRPCInferenceServiceStub(channel).ModelInfer(
            request, metadata=tuple(plane.auth.items()), timeout=T_S)
    probabilities = np.frombuffer(typed.raw_output_contents[0], dtype="<f4").reshape(2, 10)
    np.testing.assert_array_equal(probabilities, raw.as_numpy("probabilities"))
    # BYTES: typed bytes_contents and tritonclient's raw length-prefixed elements give the same embeddings
    text = np.array([s.encode() for s in SENTENCES[:2]], dtype=object)
    tensor = triton.InferInput("text", [2], "BYTES")
    tensor.set_data_from_numpy(text)
    raw = client.infer("minilm-embed", [tensor], parameters={"tier": "ground"}, headers=plane.auth,
                       client_timeout=T_S)
    request = pb.ModelInferRequest(model_name="minilm-embed")
    request.parameters["tier"].string_param = "ground"
    request.inputs.add(name="text", datatype="BYTES", shape=[2]).contents.bytes_contents.extend(list(text))
    with grpc.insecure_channel(plane.url) as channel:
        typed = pb_grpc.GRPCInferenceServiceStub(channel).ModelInfer(
            request, metadata=tuple(plane.auth.items()), timeout=T_S)
    embedding = np.frombuffer(typed.raw_output_contents[0], dtype="<f4").reshape(2, 384)
    np.testing.assert_allclose(embedding, raw.as_numpy("embedding"), rtol=1e-6)
    assert not np.allclose(embedding[0], embedding[1])


def test_errors_map_to_grpc_status_codes_and_the_server_keeps_serving(plane, client) -> None:
    good = [_pixels(digits_rows(1))]

    def infer(model="digits-mlp", inputs=good, headers=plane.auth, **kw):
        return lambda: client.infer(model, inputs, headers=headers, client_timeout=T_S, **kw)

    code, message = _status(infer(headers=None))
    assert code == "StatusCode.UNAUTHENTICATED" and "missing API key" in message
    assert _status(infer(headers={"authorization": "Bearer sk-nope"}))[0] == "StatusCode.UNAUTHENTICATED"
    assert _status(lambda: client.get_model_metadata("digits-mlp", client_timeout=T_S))[0] == "StatusCode.UNAUTHENTICATED"
    code, message = _status(infer(model="no-such-model"))
    assert code == "StatusCode.NOT_FOUND" and "no-such-model" in message
    assert _status(lambda: client.get_model_metadata("nope", headers=plane.auth, client_timeout=T_S))[0] == "StatusCode.NOT_FOUND"
    code, message = _status(infer(inputs=[_pixels(np.zeros((1, 32), np.float32))]))
    assert code == "StatusCode.INVALID_ARGUMENT" and "shape [1, 32]" in message
    wrong_type = triton.InferInput("pixels", [1, 64], "FP64")
    wrong_type.set_data_from_numpy(np.zeros((1, 64), np.float64))
    code, message = _status(infer(inputs=[wrong_type]))
    assert code == "StatusCode.INVALID_ARGUMENT" and "datatype FP64" in message
    code, message = _status(infer(parameters={"tier": "moon"}))
    assert code == "StatusCode.INVALID_ARGUMENT" and "tier 'moon'" in message
    plane.tenants.create("local", allowed_models=["digits-mlp"])
    local = {"authorization": f"Bearer {plane.keys.create('local').key}"}
    text = triton.InferInput("text", [1], "BYTES")
    text.set_data_from_numpy(np.array([b"hi"], dtype=object))
    assert _status(infer(model="minilm-embed", inputs=[text], headers=local))[0] == "StatusCode.PERMISSION_DENIED"

    # malformed tensors only a hand-made request can send: sizes that disagree, raw entries that do not match
    def raw_call(request):
        with grpc.insecure_channel(plane.url) as channel:
            with pytest.raises(grpc.RpcError) as info:
                pb_grpc.GRPCInferenceServiceStub(channel).ModelInfer(request, metadata=tuple(plane.auth.items()),
                                                                   timeout=T_S)
        return info.value.code(), info.value.details()

    short = pb.ModelInferRequest(model_name="digits-mlp", raw_input_contents=[b"\0" * 10])
    short.inputs.add(name="pixels", datatype="FP32", shape=[1, 64])
    code, details = raw_call(short)
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "needs 256 bytes" in details
    two = pb.ModelInferRequest(model_name="digits-mlp", raw_input_contents=[b"\0" * 256, b"\0" * 4])
    two.inputs.add(name="pixels", datatype="FP32", shape=[1, 64])
    code, details = raw_call(two)
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "raw_input_contents has 2 entries for 1 inputs" in details
    empty = pb.ModelInferRequest(model_name="digits-mlp")
    empty.inputs.add(name="pixels", datatype="FP32", shape=[1, 64])
    assert raw_call(empty)[0] == grpc.StatusCode.INVALID_ARGUMENT
    negative = pb.ModelInferRequest(model_name="digits-mlp", raw_input_contents=[b""])
    negative.inputs.add(name="pixels", datatype="FP32", shape=[1, -64])
    assert raw_call(negative)[0] == grpc.StatusCode.INVALID_ARGUMENT
    huge = pb.ModelInferRequest(model_name="digits-mlp", raw_input_contents=[b"\0" * (64 * 1024 + 4)])
    huge.inputs.add(name="pixels", datatype="FP32", shape=[1, 16385])
    assert raw_call(huge)[0] == grpc.StatusCode.RESOURCE_EXHAUSTED  # over max_body_bytes, as REST's 413

    assert client.is_server_live(client_timeout=T_S)
    assert client.infer("digits-mlp", good, headers=plane.auth, client_timeout=T_S).as_numpy("label").shape == (1,)


def test_rate_limit_is_resource_exhausted_with_retry_after_in_trailing_metadata(plane) -> None:
    plane.tenants.create("tiny", rpm=60, burst=1)
    key = plane.keys.create("tiny").key
    request = pb.ModelInferRequest(model_name="digits-mlp", raw_input_contents=[digits_rows(1).tobytes()])
    request.inputs.add(name="pixels", datatype="FP32", shape=[1, 64])
    with grpc.insecure_channel(plane.url) as channel:
        stub = pb_grpc.GRPCInferenceServiceStub(channel)
        _, call = stub.ModelInfer.with_call(request, metadata=(("authorization", f"Bearer {key}"),), timeout=T_S)
        assert dict(call.trailing_metadata())["x-ratelimit-remaining-requests"] == "0"
        with pytest.raises(grpc.RpcError) as info:
            stub.ModelInfer(request, metadata=(("authorization", f"Bearer {key}"),), timeout=T_S)
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert float(dict(info.value.trailing_metadata())["retry-after"]) > 0


def test_replicas_share_one_port(plane) -> None:
    """SO_REUSEPORT: a second server (another gateway replica) binds the port the first holds, and serves."""

    async def second():
        server, port = create_grpc_server(plane.dataplane, host="127.0.0.1", port=plane.port, max_body_bytes=1024)
        await server.start()
        return server, port

    server, port = plane.loop.run(second())
    try:
        assert port == plane.port
        with triton.InferenceServerClient(plane.url) as c:
            assert c.is_server_live(client_timeout=T_S)
    finally:
        plane.loop.run(server.stop(None))


def test_status_codes() -> None:
    expected = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
                413: "RESOURCE_EXHAUSTED", 429: "RESOURCE_EXHAUSTED", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED",
                500: "INTERNAL", 409: "INTERNAL", 501: "UNIMPLEMENTED"}
    assert {status: grpc_code(status).name for status in expected} == expected
