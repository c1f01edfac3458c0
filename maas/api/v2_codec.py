"""Open Inference Protocol (KServe V2) tensors: JSON and binary-extension decoding and encoding.

Transport-free: works on bytes and dicts, raises ``InvalidInput`` (400) with a message naming the tensor and the
field. Every V2 datatype is supported: BOOL, UINT8-64, INT8-64, FP16, FP32, FP64 and BYTES. BYTES tensors are numpy
object arrays of ``bytes``. Binary tensors are little-endian, row-major; BYTES elements are a 4-byte little-endian
length followed by the bytes (the binary tensor data extension, as tritonclient and kserve clients send it).
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson

from maas.errors import InvalidInput, Unsupported
from maas.models.manifest import V2_DATATYPES

__all__ = [
    "DATATYPES",
    "Tensor",
    "InferRequest",
    "decode_request",
    "encode_response",
    "numpy_dtype",
]

# Wire dtypes: the catalog's V2 datatypes, fixed little-endian as the binary extension requires.
DATATYPES: dict[str, np.dtype] = {
    name: dt if dt.kind in "bO" else dt.newbyteorder("<") for name, dt in V2_DATATYPES.items()
}
_ALLOWED = ", ".join(DATATYPES)
_BY_NUMPY = {dt: name for name, dt in DATATYPES.items() if name != "BYTES"}
_MAX_ELEMENTS = 1 << 26


@dataclass(slots=True)
class Tensor:
    """One named tensor with its V2 datatype."""

    name: str
    datatype: str
    array: np.ndarray
    parameters: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class InferRequest:
    """A decoded V2 inference request."""

    id: str | None
    parameters: dict[str, Any]
    inputs: list[Tensor]
    outputs: list[dict[str, Any]] | None  # requested outputs as sent: [{"name", "parameters"?}]
    binary_output_default: bool = False


def numpy_dtype(datatype: str) -> np.dtype:
    """The numpy dtype of a V2 datatype; 400 for unknown names, 501 for BF16."""
    try:
        return DATATYPES[datatype]
    except KeyError:
        if datatype == "BF16":
            raise Unsupported("datatype BF16 is not supported by this server") from None
        raise InvalidInput(f"unknown datatype {datatype!r} (allowed: {_ALLOWED})") from None


def _field(obj: dict, key: str, kind: type | tuple, where: str) -> Any:
    if key not in obj:
        raise InvalidInput(f"{where}: missing field '{key}'")
    value = obj[key]
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        raise InvalidInput(f"{where}: field '{key}' has the wrong type")
    return value


def _shape(value: Any, where: str) -> tuple[int, ...]:
    if not isinstance(value, list) or not all(isinstance(d, int) and not isinstance(d, bool) for d in value):
        raise InvalidInput(f"{where}: 'shape' must be a list of integers")
    if any(d < 0 for d in value):
        raise InvalidInput(f"{where}: 'shape' has a negative dimension {value}")
    size = math.prod(value)
    if size > _MAX_ELEMENTS:
        raise InvalidInput(f"{where}: shape {value} has {size} elements (limit {_MAX_ELEMENTS})")
    if math.prod(d for d in value if d) > _MAX_ELEMENTS:  # empty, but numpy cannot even describe it
        raise InvalidInput(f"{where}: shape {value} has dimensions whose product exceeds {_MAX_ELEMENTS}")
    return tuple(value)


def _flat_list(data: Any, where: str) -> list:
    if not isinstance(data, list):
        return [data]
    if not data or not isinstance(data[0], list):
        return data
    out: list = []
    stack = [data]
    while stack:  # depth-first flatten of nested lists, row-major
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(reversed(item))
        else:
            out.append(item)
    return out


def _json_array(data: Any, datatype: str, shape: tuple[int, ...], where: str) -> np.ndarray:
    flat = _flat_list(data, where)
    expected = math.prod(shape)
    if len(flat) != expected:
        raise InvalidInput(f"{where}: shape {list(shape)} needs {expected} elements but 'data' has {len(flat)}")
    if datatype == "BYTES":
        out = np.empty(expected, dtype=object)
        for i, item in enumerate(flat):
            if isinstance(item, str):
                out[i] = item.encode("utf-8")
            elif isinstance(item, (bytes, bytearray)):
                out[i] = bytes(item)
            else:
                raise InvalidInput(f"{where}: BYTES data must be strings, found {type(item).__name__}")
        return out.reshape(shape)
    dtype = DATATYPES[datatype]
    if datatype == "BOOL":
        if not all(isinstance(v, bool) for v in flat):
            raise InvalidInput(f"{where}: BOOL data must be true/false")
        return np.array(flat, dtype=dtype).reshape(shape)
    try:
        raw = np.array(flat)  # fast path: numpy infers the kind; python checks only on the error path
    except (ValueError, TypeError, OverflowError):
        raw = np.array(flat, dtype=object)
    kind = raw.dtype.kind
    if dtype.kind in "iu":
        if kind not in "iu" and expected:  # floats, strings, or ints numpy could not fit in one integer dtype
            if not all(type(v) is int for v in flat):
                raise InvalidInput(f"{where}: {datatype} data must be integers")
            try:
                return np.array(flat, dtype=dtype).reshape(shape)
            except OverflowError:
                info = np.iinfo(dtype)
                raise InvalidInput(f"{where}: value out of range for {datatype} [{info.min}, {info.max}]") from None
        if expected:
            info = np.iinfo(dtype)
            if int(raw.min()) < info.min or int(raw.max()) > info.max:
                raise InvalidInput(f"{where}: value out of range for {datatype} [{info.min}, {info.max}]")
    elif kind not in "iuf" and expected:
        raise InvalidInput(f"{where}: {datatype} data must be numbers")
    return raw.astype(dtype, copy=False).reshape(shape)


def _binary_array(chunk: bytes, datatype: str, shape: tuple[int, ...], where: str) -> np.ndarray:
    expected = math.prod(shape)
    if datatype == "BYTES":
        items, pos = [], 0
        while pos < len(chunk):
            if pos + 4 > len(chunk):
                raise InvalidInput(f"{where}: truncated BYTES element length at byte {pos}")
            (n,) = struct.unpack_from("<I", chunk, pos)
            pos += 4
            if pos + n > len(chunk):
                raise InvalidInput(f"{where}: BYTES element of {n} bytes runs past the tensor's data")
            items.append(chunk[pos : pos + n])
            pos += n
        if len(items) != expected:
            raise InvalidInput(f"{where}: shape {list(shape)} needs {expected} elements but binary data has {len(items)}")
        out = np.empty(expected, dtype=object)
        out[:] = items
        return out.reshape(shape)
    dtype = DATATYPES[datatype]
    if len(chunk) != expected * dtype.itemsize:
        raise InvalidInput(
            f"{where}: shape {list(shape)} of {datatype} needs {expected * dtype.itemsize} bytes "
            f"but binary_data_size is {len(chunk)}"
        )
    return np.frombuffer(chunk, dtype=dtype).reshape(shape)


def decode_request(body: bytes, header_length: int | None = None) -> InferRequest:
    """Decode a V2 request body; ``header_length`` is the Inference-Header-Content-Length (binary extension)."""
    if header_length is not None:
        if header_length < 0 or header_length > len(body):
            raise InvalidInput(
                f"Inference-Header-Content-Length is {header_length} but the body has {len(body)} bytes"
            )
        header_bytes, binary = body[:header_length], body[header_length:]
    else:
        header_bytes, binary = body, b""
    try:
        doc = orjson.loads(header_bytes)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"request body is not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise InvalidInput("request body must be a JSON object")
    req_id = doc.get("id")
    if req_id is not None and not isinstance(req_id, str):
        raise InvalidInput("field 'id' must be a string")
    params = doc.get("parameters") or {}
    if not isinstance(params, dict):
        raise InvalidInput("field 'parameters' must be an object")
    raw_inputs = _field(doc, "inputs", list, "request")
    if not raw_inputs:
        raise InvalidInput("request: 'inputs' is empty")
    inputs: list[Tensor] = []
    offset = 0
    for i, item in enumerate(raw_inputs):
        if not isinstance(item, dict):
            raise InvalidInput(f"inputs[{i}] must be an object")
        name = _field(item, "name", str, f"inputs[{i}]")
        where = f"input '{name}'"
        datatype = _field(item, "datatype", str, where)
        numpy_dtype(datatype)
        shape = _shape(item.get("shape"), where)
        tparams = item.get("parameters") or {}
        if not isinstance(tparams, dict):
            raise InvalidInput(f"{where}: 'parameters' must be an object")
        size = tparams.get("binary_data_size")
        if size is not None:
            if not isinstance(size, int) or isinstance(size, bool) or size < 0:
                raise InvalidInput(f"{where}: binary_data_size must be a non-negative integer")
            if offset + size > len(binary):
                raise InvalidInput(
                    f"{where}: binary_data_size {size} runs past the end of the body "
                    f"({len(binary) - offset} bytes left)"
                )
            array = _binary_array(binary[offset : offset + size], datatype, shape, where)
            offset += size
        else:
            if "data" not in item:
                raise InvalidInput(f"{where}: missing field 'data' (or parameters.binary_data_size)")
            array = _json_array(item["data"], datatype, shape, where)
        inputs.append(Tensor(name, datatype, array, tparams))
    if offset != len(binary):
        raise InvalidInput(f"body has {len(binary) - offset} bytes of binary data that no input claims")
    names = [t.name for t in inputs]
    if len(set(names)) != len(names):
        raise InvalidInput(f"duplicate input names in {names}")
    outputs = doc.get("outputs")
    if outputs is not None:
        if not isinstance(outputs, list) or not all(isinstance(o, dict) and isinstance(o.get("name"), str) for o in outputs):
            raise InvalidInput("field 'outputs' must be a list of objects with a 'name'")
    binary_default = params.get("binary_data_output", False)
    if not isinstance(binary_default, bool):
        raise InvalidInput("parameters.binary_data_output must be true or false")
    return InferRequest(req_id, params, inputs, outputs, binary_default)


def _datatype_of(array: np.ndarray) -> str:
    if array.dtype == object or array.dtype.kind in "SU":
        return "BYTES"
    try:
        return _BY_NUMPY[array.dtype.newbyteorder("<") if array.dtype.byteorder == ">" else array.dtype]
    except KeyError:
        raise Unsupported(f"output dtype {array.dtype} has no V2 datatype") from None


def _to_bytes(item: Any) -> bytes:
    return item if isinstance(item, bytes) else str(item).encode("utf-8")


def _binary_of(array: np.ndarray, datatype: str) -> bytes:
    if datatype == "BYTES":
        parts = []
        for item in array.reshape(-1):
            b = _to_bytes(item)
            parts.append(struct.pack("<I", len(b)))
            parts.append(b)
        return b"".join(parts)
    return np.ascontiguousarray(array, dtype=DATATYPES[datatype]).tobytes()


def _json_data(array: np.ndarray, datatype: str) -> Any:
    flat = array.reshape(-1)
    if datatype == "BYTES":
        out = []
        for item in flat:
            b = _to_bytes(item)
            try:
                out.append(b.decode("utf-8"))
            except UnicodeDecodeError:
                raise InvalidInput("a BYTES output is not UTF-8: ask for it with binary_data") from None
        return out
    return np.ascontiguousarray(flat)  # orjson writes numpy arrays directly (shortest round-trip repr)


def encode_response(
    *,
    model_name: str,
    model_version: str | None,
    request_id: str,
    outputs: dict[str, np.ndarray],
    parameters: dict[str, Any],
    binary_outputs: set[str] = frozenset(),
) -> tuple[bytes, int | None]:
    """Encode a V2 response. Returns (body, json_header_length or None when every output is JSON)."""
    items: list[dict[str, Any]] = []
    chunks: list[bytes] = []
    for name, array in outputs.items():
        datatype = _datatype_of(array)
        entry: dict[str, Any] = {"name": name, "datatype": datatype, "shape": list(array.shape)}
        if name in binary_outputs:
            chunk = _binary_of(array, datatype)
            entry["parameters"] = {"binary_data_size": len(chunk)}
            chunks.append(chunk)
        else:
            entry["data"] = _json_data(array, datatype)
        items.append(entry)
    doc: dict[str, Any] = {"model_name": model_name, "id": request_id, "parameters": parameters, "outputs": items}
    if model_version is not None:
        doc["model_version"] = model_version
    header = orjson.dumps(doc, option=orjson.OPT_SERIALIZE_NUMPY)
    if not chunks:
        return header, None
    return header + b"".join(chunks), len(header)
