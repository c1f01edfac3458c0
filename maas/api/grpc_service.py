"""gRPC shell over the data plane: the Open Inference Protocol's ``inference.GRPCInferenceService``.

A thin transport like the REST shell (``maas.api.app``): it never decodes tensors or routes itself.
1. ``ModelInfer``: the ``ModelInferRequest`` becomes the body the REST shell would have received for the same
   request with the binary tensor extension (a JSON header, then each input's bytes, ``Inference-Header-Content-
   Length``), with ``binary_data_output`` on; ``DataPlane.infer`` validates, routes, runs and meters it exactly as
   over HTTP; its binary response becomes ``raw_output_contents`` and its ``parameters`` (tier, latency_ms,
   energy_j, ...) the response's ``parameters``.
2. Inputs come in ``raw_input_contents`` (one entry per input, in order: what tritonclient sends) or in the typed
   ``contents`` fields (packed to the same little-endian bytes; FP16 has no typed field).
3. Request ``parameters`` carry the routing hints as in REST (deadline_ms, objective, site, tier, strict,
   explain); gRPC metadata plays the part of the HTTP headers: ``authorization`` (the API key), ``x-maas-*``.
4. A ``MaasError`` becomes the gRPC status of its HTTP status (``GRPC_CODES``) with its message as details and its
   headers (rate-limit state, retry-after) as trailing metadata; anything else is INTERNAL, logged, and the
   server keeps serving. A successful answer carries the same headers as trailing metadata.
ServerLive, ServerReady and ServerMetadata need no key; ModelMetadata and ModelReady read as the key's tenant.
The other RPCs of the service (repository, statistics, shared memory, streaming) answer UNIMPLEMENTED.
"""

from __future__ import annotations

import functools
import logging
import struct
from collections.abc import Iterable, Mapping
from typing import Any

import grpc
import numpy as np
import orjson
from tritonclient.grpc import service_pb2 as pb
from tritonclient.grpc import service_pb2_grpc as pb_grpc

from maas.api.dataplane import DataPlane, InferResult
from maas.api.v2_codec import numpy_dtype
from maas.errors import InvalidInput, MaasError, NotReady, PayloadTooLarge

__all__ = ["GRPC_CODES", "InferenceServicer", "create_grpc_server", "grpc_code", "infer_response", "request_body"]

log = logging.getLogger(__name__)

GRPC_CODES: dict[int, grpc.StatusCode] = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    401: grpc.StatusCode.UNAUTHENTICATED,
    403: grpc.StatusCode.PERMISSION_DENIED,
    404: grpc.StatusCode.NOT_FOUND,
    413: grpc.StatusCode.RESOURCE_EXHAUSTED,
    429: grpc.StatusCode.RESOURCE_EXHAUSTED,
    501: grpc.StatusCode.UNIMPLEMENTED,
    503: grpc.StatusCode.UNAVAILABLE,
    504: grpc.StatusCode.DEADLINE_EXCEEDED,
}

# The typed ``InferTensorContents`` field of each V2 datatype (FP16 and BF16 have none: raw_input_contents only).
_TYPED_FIELD = {
    "BOOL": "bool_contents", "INT8": "int_contents", "INT16": "int_contents", "INT32": "int_contents",
    "INT64": "int64_contents", "UINT8": "uint_contents", "UINT16": "uint_contents", "UINT32": "uint_contents",
    "UINT64": "uint64_contents", "FP32": "fp32_contents", "FP64": "fp64_contents", "BYTES": "bytes_contents",
}
# Metadata the shell sets itself or that means nothing once the body is rebuilt.
_DROPPED_METADATA = {"inference-header-content-length", "content-encoding", "content-length", "content-type"}
_INT64 = (-(2**63), 2**63 - 1)


def grpc_code(status: int) -> grpc.StatusCode:
    """The gRPC status code of an HTTP status (``GRPC_CODES``; anything else is INTERNAL)."""
    return GRPC_CODES.get(status, grpc.StatusCode.INTERNAL)


# -- ModelInferRequest -> V2 REST body ------------------------------------------------------------------------
def _plain(params: Mapping[str, pb.InferParameter]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, param in params.items():
        which = param.WhichOneof("parameter_choice")
        if which is not None:
            out[key] = getattr(param, which)
    return out


def _typed_bytes(tensor: pb.ModelInferRequest.InferInputTensor) -> bytes:
    where = f"input {tensor.name!r}"
    dtype = numpy_dtype(tensor.datatype)  # 400 for an unknown datatype, 501 for BF16
    if not tensor.HasField("contents"):
        raise InvalidInput(f"{where} has no data: send it in raw_input_contents or in contents "
                           "(shared memory is not supported)")
    field = _TYPED_FIELD.get(tensor.datatype)
    if field is None:
        raise InvalidInput(f"{where}: {tensor.datatype} has no typed contents field; send it in raw_input_contents")
    values = list(getattr(tensor.contents, field))
    if tensor.datatype == "BYTES":
        return b"".join(struct.pack("<I", len(v)) + v for v in values)
    if dtype.kind in "iu":
        wide = np.array(values, dtype=np.uint64 if field == "uint64_contents" else np.int64)
        info = np.iinfo(dtype)
        if wide.size and (int(wide.min()) < info.min or int(wide.max()) > info.max):
            raise InvalidInput(f"{where}: value out of range for {tensor.datatype} [{info.min}, {info.max}]")
        return wide.astype(dtype).tobytes()
    return np.array(values, dtype=dtype).tobytes()


def request_body(request: pb.ModelInferRequest) -> tuple[bytes, int]:
    """The V2 REST body (binary tensor extension) of a ``ModelInferRequest`` and its JSON header's length."""
    raw = request.raw_input_contents
    if raw and len(raw) != len(request.inputs):
        raise InvalidInput(f"raw_input_contents has {len(raw)} entries for {len(request.inputs)} inputs "
                           "(one per input, in order)")
    inputs, chunks = [], []
    for i, tensor in enumerate(request.inputs):
        if raw:
            if tensor.HasField("contents"):
                raise InvalidInput(f"input {tensor.name!r} has both contents and raw_input_contents")
            chunk = raw[i]
        else:
            chunk = _typed_bytes(tensor)
        params = {**_plain(tensor.parameters), "binary_data_size": len(chunk)}
        inputs.append({"name": tensor.name, "datatype": tensor.datatype, "shape": list(tensor.shape),
                       "parameters": params})
        chunks.append(chunk)
    doc: dict[str, Any] = {"inputs": inputs, "parameters": {**_plain(request.parameters), "binary_data_output": True}}
    if request.id:
        doc["id"] = request.id
    if request.outputs:
        doc["outputs"] = [{"name": o.name, "parameters": {**_plain(o.parameters), "binary_data": True}}
                          for o in request.outputs]
    header = orjson.dumps(doc)
    return header + b"".join(chunks), len(header)


# -- V2 REST response -> ModelInferResponse -------------------------------------------------------------------
def _set_params(target: Any, params: Mapping[str, Any]) -> None:
    for key, value in params.items():
        if value is None:
            continue
        param = target[key]
        if isinstance(value, bool):
            param.bool_param = value
        elif isinstance(value, int) and _INT64[0] <= value <= _INT64[1]:
            param.int64_param = value
        elif isinstance(value, float):
            param.double_param = value
        elif isinstance(value, str):
            param.string_param = value
        else:  # lists (retried_from), objects, huge integers: their JSON text
            param.string_param = orjson.dumps(value).decode()


def infer_response(result: InferResult) -> pb.ModelInferResponse:
    """The ``ModelInferResponse`` of the data plane's binary V2 response (every output in raw_output_contents)."""
    cut = len(result.body) if result.header_length is None else result.header_length
    doc = orjson.loads(result.body[:cut])
    binary = memoryview(result.body)[cut:]
    response = pb.ModelInferResponse(model_name=doc["model_name"], model_version=doc.get("model_version") or "",
                                     id=doc.get("id") or "")
    _set_params(response.parameters, doc.get("parameters") or {})
    offset = 0
    for out in doc["outputs"]:
        size = (out.get("parameters") or {}).get("binary_data_size")
        if size is None:  # the request asked for binary outputs: the data plane never answers otherwise
            raise RuntimeError(f"output {out['name']!r} came back without binary data")
        response.outputs.add(name=out["name"], datatype=out["datatype"], shape=out["shape"])
        response.raw_output_contents.append(bytes(binary[offset:offset + size]))
        offset += size
    return response


def _metadata(headers: Mapping[str, str] | None) -> tuple[tuple[str, str], ...]:
    return tuple((k.lower(), str(v)) for k, v in (headers or {}).items())


def _headers(metadata: Iterable[Any] | None) -> dict[str, str]:
    """gRPC metadata as the data plane's header dict: lower-case names, the first value of a repeated key."""
    out: dict[str, str] = {}
    for key, value in metadata or ():
        name = key.lower()
        if name.endswith("-bin") or name in _DROPPED_METADATA or name in out:
            continue
        out[name] = value if isinstance(value, str) else value.decode("latin-1")
    return out


def _rpc(method):
    """Run one RPC; map ``MaasError`` to its gRPC status, anything else to INTERNAL (logged), never crash."""

    @functools.wraps(method)
    async def handler(self: InferenceServicer, request, context: grpc.aio.ServicerContext):
        try:
            return await method(self, request, context)
        except MaasError as exc:
            await context.abort(grpc_code(exc.status), exc.message, trailing_metadata=_metadata(exc.headers))
        except Exception as exc:
            log.exception("unexpected error in gRPC %s", method.__name__)
            await context.abort(grpc.StatusCode.INTERNAL, f"internal error: {type(exc).__name__}")

    return handler


class InferenceServicer(pb_grpc.GRPCInferenceServiceServicer):
    """``inference.GRPCInferenceService`` over one data plane (see the module docstring)."""

    def __init__(self, dataplane: DataPlane, *, max_body_bytes: int) -> None:
        self._dataplane = dataplane
        self._max_body_bytes = max_body_bytes

    def _reader(self, context: grpc.aio.ServicerContext):
        return self._dataplane.reader(_headers(context.invocation_metadata()).get("authorization"))

    @_rpc
    async def ServerLive(self, request, context):
        return pb.ServerLiveResponse(live=self._dataplane.live())

    @_rpc
    async def ServerReady(self, request, context):
        return pb.ServerReadyResponse(ready=self._dataplane.ready())

    @_rpc
    async def ServerMetadata(self, request, context):
        meta = self._dataplane.server_metadata()
        return pb.ServerMetadataResponse(name=meta["name"], version=meta["version"], extensions=meta["extensions"])

    @_rpc
    async def ModelReady(self, request, context):
        ready = self._dataplane.model_ready(request.name, request.version or None, self._reader(context))
        return pb.ModelReadyResponse(ready=ready)

    @_rpc
    async def ModelMetadata(self, request, context):
        meta = self._dataplane.model_metadata(request.name, request.version or None, self._reader(context))

        def tensors(items):
            return [pb.ModelMetadataResponse.TensorMetadata(name=t["name"], datatype=t["datatype"], shape=t["shape"])
                    for t in items]

        return pb.ModelMetadataResponse(name=meta["name"], versions=meta["versions"], platform=meta["platform"],
                                        inputs=tensors(meta["inputs"]), outputs=tensors(meta["outputs"]))

    @_rpc
    async def ModelInfer(self, request, context):
        if not request.model_name:
            raise InvalidInput("model_name is required")
        body, header_length = request_body(request)
        if len(body) > self._max_body_bytes:
            raise PayloadTooLarge(f"request of {len(body)} bytes exceeds the limit of {self._max_body_bytes} bytes")
        headers = _headers(context.invocation_metadata())
        headers["inference-header-content-length"] = str(header_length)
        result = await self._dataplane.infer(request.model_name, request.model_version or None, body, headers)
        response = infer_response(result)
        if result.headers:
            context.set_trailing_metadata(_metadata(result.headers))
        return response


def _address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host and not host.startswith("[") else f"{host}:{port}"


def create_grpc_server(dataplane: DataPlane, *, host: str, port: int,
                       max_body_bytes: int) -> tuple[grpc.aio.Server, int]:
    """A ``grpc.aio`` server (not started: ``await server.start()`` in the loop that serves the data plane) and
    the port it is bound to (``port`` 0: a free one). SO_REUSEPORT is on, so the gateway replicas of one node
    share the port (the kernel spreads connections over them); a port held without it is a ``NotReady``."""
    server = grpc.aio.server(options=[
        ("grpc.so_reuseport", 1),
        ("grpc.max_receive_message_length", max_body_bytes),  # larger is RESOURCE_EXHAUSTED, as REST's 413
        ("grpc.max_send_message_length", -1),
    ])
    pb_grpc.add_GRPCInferenceServiceServicer_to_server(
        InferenceServicer(dataplane, max_body_bytes=max_body_bytes), server)
    address = _address(host, port)
    try:
        bound = server.add_insecure_port(address)
    except RuntimeError as exc:
        raise NotReady(f"cannot bind the gRPC endpoint to {address}: {exc}") from None
    if not bound:
        raise NotReady(f"cannot bind the gRPC endpoint to {address}")
    return server, bound
