"""What a pushed ONNX file must pass before it enters the registry, and its V2 signature.

    1. ``parse_onnx(data)``: a protobuf ``ModelProto``, self-contained (no external data), ``onnx.checker``-valid.
    2. ``open_session(data)``: an onnxruntime CPU session; an op the CPU provider cannot run is named.
    3. ``read_signature(session)``: named inputs/outputs with V2 datatypes; the first (batch) dimension dynamic.
    4. ``smoke(session, signature)``: one inference on generated inputs returns every output with its rank.

Each failure is an ``InvalidInput`` (400) or ``Unsupported`` (501) whose message names the field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import onnx
import onnxruntime as ort
from google.protobuf.message import DecodeError
from onnx.external_data_helper import uses_external_data

from maas.errors import InvalidInput, Unsupported
from maas.models import TensorSpec, numpy_dtype
from maas.models.runner import session_options

__all__ = ["ORT_TO_V2", "Signature", "parse_onnx", "open_session", "read_signature", "generate_inputs", "smoke"]

#: onnxruntime tensor type -> V2 datatype.
ORT_TO_V2: dict[str, str] = {
    "tensor(bool)": "BOOL",
    "tensor(uint8)": "UINT8",
    "tensor(uint16)": "UINT16",
    "tensor(uint32)": "UINT32",
    "tensor(uint64)": "UINT64",
    "tensor(int8)": "INT8",
    "tensor(int16)": "INT16",
    "tensor(int32)": "INT32",
    "tensor(int64)": "INT64",
    "tensor(float16)": "FP16",
    "tensor(float)": "FP32",
    "tensor(double)": "FP64",
    "tensor(string)": "BYTES",
}
#: Size given to dynamic dimensions other than the batch (sequence lengths) in generated inputs.
DYNAMIC_DIM = 8

_NO_KERNEL = re.compile(r"Could not find an implementation for (\S+)\((\d+)\) node with name '([^']*)'")
_NOT_REGISTERED = re.compile(r"(?:(\S+):)?(\S+)\((-?\d+)\) is not a registered function/op")
_IR_VERSION = re.compile(r"Unsupported model IR version: (\d+), max supported IR version: (\d+)")


@dataclass(frozen=True)
class Signature:
    """The V2 view of a graph: tensors a client sends and gets back; ``-1`` dims are dynamic."""

    inputs: list[TensorSpec]
    outputs: list[TensorSpec]


def parse_onnx(data: bytes, label: str = "model") -> onnx.ModelProto:
    """Parse and check ``data``; InvalidInput naming what is wrong (not ONNX, truncated, invalid graph)."""
    if not data:
        raise InvalidInput(f"{label}: the file is empty, not an ONNX model")
    try:
        model = onnx.load_model_from_string(data)
    except (DecodeError, RuntimeError, ValueError) as exc:
        raise InvalidInput(f"{label}: not an ONNX model, or truncated/corrupt ({exc})") from None
    if not model.graph.node and not model.graph.output:
        raise InvalidInput(f"{label}: not an ONNX model (no graph); the file may be truncated or another format")
    if any(uses_external_data(tensor) for tensor in model.graph.initializer):
        raise InvalidInput(f"{label}: weights stored as external data; push a self-contained .onnx file")
    try:
        onnx.checker.check_model(model, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
        raise InvalidInput(f"{label}: onnx.checker refused the model: {_first_line(exc)}") from None
    return model


def open_session(data: bytes, label: str = "model", threads: int = 1) -> ort.InferenceSession:
    """An onnxruntime CPU session over ``data``; Unsupported (501) naming the op the CPU provider lacks."""
    try:
        return ort.InferenceSession(data, sess_options=session_options(threads), providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own Fail/NotImplemented/InvalidGraph classes
        text = str(exc)
        if match := _NO_KERNEL.search(text):
            op, opset, node = match.groups()
            raise Unsupported(
                f"{label}: onnxruntime's CPU provider has no kernel for op {op} (opset {opset}, node {node!r}) "
                "with these input types"
            ) from None
        if match := _NOT_REGISTERED.search(text):
            domain, op, _ = match.groups()
            where = f" of domain {domain!r}" if domain else ""
            raise Unsupported(
                f"{label}: op {op}{where} is not an onnxruntime CPU op (custom ops are not supported)"
            ) from None
        if match := _IR_VERSION.search(text):
            raise Unsupported(
                f"{label}: ONNX IR version {match.group(1)} is newer than onnxruntime supports "
                f"(<= {match.group(2)}); re-export with an older IR version"
            ) from None
        raise InvalidInput(f"{label}: onnxruntime cannot load the model: {_first_line(exc)}") from None


def read_signature(session: ort.InferenceSession, label: str = "model") -> Signature:
    """Inputs and outputs as V2 TensorSpecs; InvalidInput for a nameless tensor, a non-V2 type, a fixed batch."""
    inputs = [_spec(node, f"inputs[{i}]", label, batch=True) for i, node in enumerate(session.get_inputs())]
    outputs = [_spec(node, f"outputs[{i}]", label, batch=False) for i, node in enumerate(session.get_outputs())]
    if not inputs:
        raise InvalidInput(f"{label}: the graph has no inputs")
    return Signature(inputs, outputs)


def _spec(node, field: str, label: str, batch: bool) -> TensorSpec:
    if not node.name:
        raise InvalidInput(f"{label}: {field} has no name; every input and output needs one")
    datatype = ORT_TO_V2.get(node.type)
    if datatype is None:
        raise InvalidInput(
            f"{label}: {field} {node.name!r} has type {node.type}, not a V2 tensor datatype "
            f"(allowed: {', '.join(sorted(ORT_TO_V2))}; for sklearn classifiers convert with zipmap=False)"
        )
    shape = [dim if isinstance(dim, int) and dim > 0 else -1 for dim in (node.shape or [])]
    if batch and (not shape or shape[0] != -1):
        raise InvalidInput(
            f"{label}: {field} {node.name!r} has shape {node.shape}; the platform batches on the first "
            "dimension, so it must be dynamic (export with a dynamic batch axis)"
        )
    return TensorSpec(name=node.name, datatype=datatype, shape=shape)


def generate_inputs(specs: list[TensorSpec], batch: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Deterministic inputs for ``specs``: floats ~ N(0, 1), integers 0 or 1 (valid ids, masks and type ids), BYTES ``b"maas"``."""
    rng = np.random.default_rng(seed)
    feeds = {}
    for spec in specs:
        shape = [batch] + [DYNAMIC_DIM if dim == -1 else dim for dim in spec.shape[1:]]
        dtype = numpy_dtype(spec.datatype)
        if spec.datatype == "BYTES":
            feeds[spec.name] = np.full(shape, "maas", dtype=object)
        elif spec.datatype == "BOOL":
            feeds[spec.name] = rng.random(shape) < 0.5
        elif np.issubdtype(dtype, np.floating):
            feeds[spec.name] = rng.standard_normal(shape).astype(dtype)
        else:
            feeds[spec.name] = rng.integers(0, 2, size=shape).astype(dtype)
    return feeds


def smoke(session: ort.InferenceSession, signature: Signature, label: str = "model") -> Signature:
    """Run one batch of 2 generated rows; InvalidInput if it fails. Fills in outputs whose rank was unknown."""
    feeds = generate_inputs(signature.inputs, batch=2)
    try:
        results = session.run([spec.name for spec in signature.outputs], feeds)
    except Exception as exc:  # onnxruntime's own exception classes
        raise InvalidInput(f"{label}: smoke inference on generated inputs failed: {_first_line(exc)}") from None
    outputs = []
    for spec, value in zip(signature.outputs, results, strict=True):
        array = np.asarray(value)
        if not spec.shape and array.ndim:
            spec = spec.model_copy(update={"shape": [-1, *array.shape[1:]]})
        elif len(spec.shape) != array.ndim:
            raise InvalidInput(
                f"{label}: output {spec.name!r} declares rank {len(spec.shape)} but returned shape {array.shape}"
            )
        outputs.append(spec)
    return Signature(signature.inputs, outputs)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return re.sub(r"^\[ONNXRuntimeError\] : \d+ : \w+ : ", "", text)
