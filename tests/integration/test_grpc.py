"""The gRPC Open Inference Protocol endpoint of the real platform (Ray Serve gateway replica, grpc.aio beside the
FastAPI app, same data plane), driven by unmodified tritonclient.grpc: metadata, inference on every tier against
onnxruntime run directly, routing hints and response parameters, error codes."""

from __future__ import annotations

import grpc
import numpy as np
import pytest
import tritonclient.grpc as triton
from tritonclient.grpc import service_pb2 as pb
from tritonclient.grpc import service_pb2_grpc as pb_grpc
from tritonclient.utils import InferenceServerException

from tests.support.reference import digits_rows, run_onnx_directly

T_S = 60.0


@pytest.fixture(scope="module")
def grpc_client(platform):
    settings = platform[0]
    with triton.InferenceServerClient(f"{settings.host}:{settings.grpc_port}") as client:
        yield client


@pytest.fixture()
def auth_headers(dev_key) -> dict[str, str]:
    """gRPC metadata keys are lower-case (grpc refuses "Authorization" client-side as invalid metadata)."""
    return {"authorization": f"Bearer {dev_key}"}


def _params(result: triton.InferResult) -> dict:
    return {k: getattr(v, v.WhichOneof("parameter_choice")) for k, v in result.get_response().parameters.items()}


def test_metadata_over_grpc(grpc_client, platform, auth_headers) -> None:
    assert grpc_client.is_server_live(client_timeout=T_S) and grpc_client.is_server_ready(client_timeout=T_S)
    assert grpc_client.get_server_metadata(client_timeout=T_S).name == "maas"
    for model in platform[1]:
        assert grpc_client.is_model_ready(model, headers=auth_headers, client_timeout=T_S)
    meta = grpc_client.get_model_metadata("digits-mlp", headers=auth_headers, client_timeout=T_S)
    assert [(t.name, t.datatype, list(t.shape)) for t in meta.inputs] == [("pixels", "FP32", [-1, 64])]


def test_infer_over_grpc_on_every_tier_matches_onnxruntime(grpc_client, platform, catalog, models_dir,
                                                           auth_headers) -> None:
    _, placements, topology = platform
    rows = digits_rows(3)
    pixels = triton.InferInput("pixels", [3, 64], "FP32")
    pixels.set_data_from_numpy(rows)
    for tier in placements["digits-mlp"]:
        result = grpc_client.infer("digits-mlp", [pixels], headers=auth_headers, client_timeout=T_S,
                                   parameters={"tier": tier, "deadline_ms": 60000.0})
        params = _params(result)
        assert params["tier"] == tier and params["latency_ms"] > 0 and params["energy_j"] > 0
        assert params["deadline_met"] is True and params["site"]
        expected = run_onnx_directly(catalog.get("digits-mlp"), models_dir, topology.tiers[tier].precision,
                                     {"pixels": rows})
        np.testing.assert_allclose(result.as_numpy("probabilities"), expected["probabilities"], rtol=1e-5, atol=1e-6)
        assert result.as_numpy("label").tolist() == expected["label"].tolist()


def test_errors_over_grpc(grpc_client, auth_headers) -> None:
    pixels = triton.InferInput("pixels", [1, 64], "FP32")
    pixels.set_data_from_numpy(digits_rows(1))
    cases = [
        (dict(model_name="digits-mlp", inputs=[pixels]), "StatusCode.UNAUTHENTICATED"),
        (dict(model_name="no-such-model", inputs=[pixels], headers=auth_headers), "StatusCode.NOT_FOUND"),
        (dict(model_name="digits-mlp", inputs=[pixels], headers=auth_headers, parameters={"objective": "speed"}),
         "StatusCode.INVALID_ARGUMENT"),
    ]
    for kwargs, code in cases:
        with pytest.raises(InferenceServerException) as info:
            grpc_client.infer(client_timeout=T_S, **kwargs)
        assert info.value.status() == code, info.value.message()
    assert grpc_client.is_server_live(client_timeout=T_S)


def test_two_gateway_replicas_share_the_grpc_port(platform, dev_key) -> None:
    """SO_REUSEPORT: with two gateway replicas both bind the one gRPC port and the kernel spreads connections over
    them; a response's id (for a request without one) starts with its replica's prefix."""
    from ray import serve

    from maas.polling import poll_until
    from maas.serving import platform as plat

    settings = platform[0]
    plat.deploy_gateway(settings.model_copy(update={"gateway_replicas": 2}))
    try:
        def two_running() -> bool:
            app = serve.status().applications[plat.GATEWAY_APP]
            return sum(d.replica_states.get("RUNNING", 0) for d in app.deployments.values()) == 2

        poll_until(two_running, timeout_s=180, what="two gateway replicas RUNNING")
        request = pb.ModelInferRequest(model_name="digits-mlp", raw_input_contents=[digits_rows(1).tobytes()])
        request.inputs.add(name="pixels", datatype="FP32", shape=[1, 64])
        replicas = set()
        for _ in range(24):  # a fresh connection each time (no shared subchannel): the kernel picks a replica
            with grpc.insecure_channel(f"{settings.host}:{settings.grpc_port}",
                                       options=[("grpc.use_local_subchannel_pool", 1)]) as channel:
                response = pb_grpc.GRPCInferenceServiceStub(channel).ModelInfer(
                    request, metadata=(("authorization", f"Bearer {dev_key}"),), timeout=T_S)
            replicas.add(response.id.rpartition("-")[0])
        assert len(replicas) == 2, replicas
    finally:
        plat.deploy_gateway(settings)
