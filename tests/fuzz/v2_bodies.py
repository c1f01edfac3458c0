"""Hypothesis strategies for hostile V2 inference requests: JSON and binary-extension bodies, every datatype (and
unknown ones), shapes that agree with the data or not (empty, negative, huge), request and tensor parameters
(routing hints of every type), X-Maas-* headers, a right or wrong ``Inference-Header-Content-Length``, and gzip,
deflate, unknown or lying ``Content-Encoding``.

``v2_requests(models)`` draws a ``FuzzRequest`` (path, headers, body bytes) for the model names given (plus unknown
ones). The inputs of the real models (name, datatype, shape) are in ``MODEL_INPUTS`` so a share of the requests
are valid and reach the tier workers.
"""

from __future__ import annotations

import gzip
import json
import math
import struct
import zlib
from dataclasses import dataclass, field

import numpy as np
from hypothesis import strategies as st

__all__ = ["FuzzRequest", "v2_requests", "MODEL_INPUTS", "DATATYPES"]

DATATYPES = ("BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64", "FP16", "FP32",
             "FP64", "BYTES")
_NP = {"BOOL": "?", "UINT8": "<u1", "UINT16": "<u2", "UINT32": "<u4", "UINT64": "<u8", "INT8": "<i1",
       "INT16": "<i2", "INT32": "<i4", "INT64": "<i8", "FP16": "<f2", "FP32": "<f4", "FP64": "<f8"}
MODEL_INPUTS = {
    "digits-mlp": ("pixels", "FP32", 64),
    "maintenance-clf": ("features", "FP32", 6),
    "minilm-embed": ("text", "BYTES", None),
}
_HINT_KEYS = ("deadline_ms", "objective", "priority", "site", "tier", "strict", "binary_data_output",
              "sequence_id", "x")


@dataclass
class FuzzRequest:
    """One request to send: ``POST path`` with ``headers`` and ``body``; ``kind`` says what was drawn."""

    path: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    kind: str = "json"

    def describe(self) -> str:
        return f"{self.kind} POST {self.path} headers={self.headers} body[:300]={self.body[:300]!r}"


_weird_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12), st.just([]), st.just({}),
)
_values = st.recursive(_weird_scalars, lambda kids: st.lists(kids, max_size=4) | st.dictionaries(
    st.text(max_size=6), kids, max_size=3), max_leaves=12)


@st.composite
def _params(draw: st.DrawFn) -> dict:
    keys = draw(st.lists(st.sampled_from(_HINT_KEYS), max_size=5, unique=True))
    out = {}
    for k in keys:
        if draw(st.booleans()):
            out[k] = draw(_values)
        elif k == "deadline_ms":
            out[k] = draw(st.floats(-10, 1e6) | st.integers(-5, 10**12))
        elif k == "objective":
            out[k] = draw(st.sampled_from(["latency", "balanced", "energy", "carbon", "", "LATENCY", "fast"]))
        elif k == "priority":
            out[k] = draw(st.integers(-3, 12))
        elif k in ("site", "tier"):
            out[k] = draw(st.sampled_from(["lisbon", "bs-edge", "olt-edge", "leo-sat", "cloud", "", "nowhere"]))
        else:
            out[k] = draw(st.booleans())
    return out


@st.composite
def _shape(draw: st.DrawFn, natural: int | None) -> list[int]:
    if natural is not None and draw(st.booleans()):
        return [draw(st.integers(1, 3)), natural]
    return draw(st.lists(st.integers(-2, 9) | st.sampled_from([0, 2**31, 2**40, 2**63 - 1]), max_size=4))


def _elements(shape: list[int]) -> int:
    n = 1
    for d in shape:
        n *= max(d, 0)
    return n


@st.composite
def _tensor(draw: st.DrawFn, name: str, datatype: str, natural: int | None, binary: bool
            ) -> tuple[dict, bytes]:
    shape = draw(_shape(natural))
    if datatype == "BYTES" and natural is None and draw(st.booleans()):
        shape = [draw(st.integers(1, 3))]
    n = _elements(shape)
    consistent = n <= 512 and draw(st.integers(0, 3)) > 0
    count = n if consistent else draw(st.integers(0, 9))
    tensor: dict = {"name": name, "shape": shape, "datatype": datatype}
    if draw(st.integers(0, 5)) == 0:
        tensor["parameters"] = draw(st.dictionaries(st.sampled_from(["binary_data_size", "content_type", "y"]),
                                                    _values, max_size=2))
    raw = b""
    if datatype == "BYTES":
        items = draw(st.lists(st.binary(max_size=24), min_size=count, max_size=count))
        if binary:
            raw = b"".join(struct.pack("<I", len(b)) + b for b in items)
        else:
            tensor["data"] = [b.decode("latin-1") for b in items]
    elif datatype in _NP:
        arr = draw(st.lists(st.floats(-1e6, 1e6) | st.sampled_from([math.nan, math.inf, -math.inf]) | st.integers(-300, 300),
                            min_size=count, max_size=count))
        if binary:
            with np.errstate(all="ignore"):
                raw = np.array(np.nan_to_num(np.array(arr, dtype=np.float64)), dtype=np.float64).astype(
                    _NP[datatype]).tobytes()
        elif datatype == "BOOL":
            tensor["data"] = [bool(x) for x in arr]
        else:
            tensor["data"] = [x if isinstance(x, int) or datatype.startswith("FP") else int(x)
                              if x == x and abs(x) < 2**62 else 0 for x in arr]
    else:
        tensor["data"] = draw(_values)
    if binary:
        if draw(st.integers(0, 4)) == 0:
            raw = raw[: draw(st.integers(0, len(raw)))] + draw(st.binary(max_size=8))
        size = len(raw) if draw(st.integers(0, 4)) else draw(st.integers(-4, 2**40))
        tensor.setdefault("parameters", {})
        if isinstance(tensor["parameters"], dict):
            tensor["parameters"]["binary_data_size"] = size
    if not binary and draw(st.integers(0, 6)) == 0:
        tensor["data"] = draw(_values)  # data that is no array of the datatype at all
    return tensor, raw


@st.composite
def _valid_request(draw: st.DrawFn, models: tuple[str, ...]) -> FuzzRequest:
    """A request the server should serve: a real model's input, valid hints, JSON or binary, maybe compressed."""
    model = draw(st.sampled_from([m for m in models if m in MODEL_INPUTS] or list(MODEL_INPUTS)))
    name, datatype, width = MODEL_INPUTS[model]
    rows = draw(st.integers(1, 4))
    binary = draw(st.booleans())
    if datatype == "BYTES":
        items = draw(st.lists(st.text(max_size=40), min_size=rows, max_size=rows))
        tensor: dict = {"name": name, "shape": [rows], "datatype": "BYTES"}
        raw = b"".join(struct.pack("<I", len(t.encode())) + t.encode() for t in items)
        data: list = items
    else:
        values = draw(st.lists(st.floats(-1e3, 1e3, width=32), min_size=rows * width, max_size=rows * width))
        tensor = {"name": name, "shape": [rows, width], "datatype": datatype}
        raw = np.array(values, dtype="<f4").tobytes()
        data = values
    doc: dict = {"inputs": [tensor]}
    params = {}
    if draw(st.booleans()):
        params["deadline_ms"] = draw(st.floats(1, 5000))
    if draw(st.booleans()):
        params["objective"] = draw(st.sampled_from(["latency", "balanced", "energy", "carbon"]))
    if draw(st.integers(0, 3)) == 0:
        params["tier"] = draw(st.sampled_from(["base-station", "optical-access", "ground", "satellite"]))
    if draw(st.integers(0, 3)) == 0:
        params["strict"] = draw(st.booleans())
    if draw(st.integers(0, 3)) == 0:
        params["binary_data_output"] = draw(st.booleans())
    if params:
        doc["parameters"] = params
    headers = {"Content-Type": "application/json"}
    if binary:
        tensor["parameters"] = {"binary_data_size": len(raw)}
        header = json.dumps(doc).encode()
        body = header + raw
        headers = {"Content-Type": "application/octet-stream", "Inference-Header-Content-Length": str(len(header))}
    else:
        tensor["data"] = data
        body = json.dumps(doc).encode()
    enc = draw(st.sampled_from(["identity", "identity", "gzip", "deflate"]))
    if enc == "gzip":
        body = gzip.compress(body)
    elif enc == "deflate":
        body = zlib.compress(body)
    if enc != "identity":
        headers["Content-Encoding"] = enc
    return FuzzRequest(f"/v2/models/{model}/infer", headers, body, f"valid-{'binary' if binary else 'json'}+{enc}")


@st.composite
def v2_requests(draw: st.DrawFn, models: tuple[str, ...] = tuple(MODEL_INPUTS)) -> FuzzRequest:
    """One hostile (or valid) V2 infer request; see the module docstring."""
    if draw(st.integers(0, 3)) == 0:  # a quarter are valid: they reach placement, the tier workers and encoding
        return draw(_valid_request(models))
    model = draw(st.sampled_from(models) | st.sampled_from(["nope", "digits-mlp%2F..", "a" * 300]))
    path = f"/v2/models/{model}/infer"
    if draw(st.integers(0, 7)) == 0:
        path = f"/v2/models/{model}/versions/{draw(st.sampled_from(['1', '0', 'latest', '-1', '9' * 30]))}/infer"
    binary = draw(st.integers(0, 2)) == 0
    name, datatype, natural = MODEL_INPUTS.get(model, ("x", "FP32", 4))
    inputs, blobs = [], []
    for _ in range(draw(st.integers(0, 3)) if draw(st.integers(0, 4)) == 0 else 1):
        t_name = name if draw(st.integers(0, 5)) else draw(st.text(max_size=8))
        t_type = datatype if draw(st.integers(0, 3)) else draw(st.sampled_from(DATATYPES + ("BF16", "FP8", "")))
        tensor, raw = draw(_tensor(t_name, t_type, natural, binary))
        inputs.append(tensor)
        blobs.append(raw)
    doc: dict = {"inputs": inputs}
    if draw(st.booleans()):
        doc["id"] = draw(st.text(max_size=10) | st.integers())
    if draw(st.booleans()):
        doc["parameters"] = draw(_params())
    if draw(st.integers(0, 3)) == 0:
        doc["outputs"] = draw(st.lists(st.fixed_dictionaries(
            {"name": st.sampled_from(["probabilities", "failure_probability", "embedding", "zz"])},
            optional={"parameters": st.dictionaries(st.just("binary_data"), _values, max_size=1)}), max_size=3))
    if draw(st.integers(0, 9)) == 0:  # not a V2 document at all
        doc = draw(_values)
    header = json.dumps(doc, allow_nan=True).encode()
    headers: dict[str, str] = {}
    kind = "json"
    body = header
    if binary:
        kind = "binary"
        body = header + b"".join(blobs)
        length = len(header) if draw(st.integers(0, 4)) else draw(st.sampled_from(
            [0, -1, len(body) + 5, 2**63, "x", " 12", "1e3"]))
        headers["Inference-Header-Content-Length"] = str(length)
        headers["Content-Type"] = "application/octet-stream"
    else:
        headers["Content-Type"] = draw(st.sampled_from(["application/json", "text/plain", "application/json"]))
    if draw(st.integers(0, 5)) == 0:
        body = draw(st.binary(max_size=64))
        kind = "garbage"
    for k, v in draw(st.dictionaries(st.sampled_from(["X-Maas-Deadline-Ms", "X-Maas-Objective", "X-Maas-Site",
                                                      "X-Maas-Tier", "X-Maas-Priority", "X-Maas-Strict"]),
                                     st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=10)
                                     .map(str.strip),  # HTTP clients refuse header values with edge spaces
                                     max_size=3)).items():
        headers[k] = v
    enc = draw(st.sampled_from(["identity"] * 4 + ["gzip", "deflate", "lying-gzip", "br", "gzip, gzip"]))
    if enc == "gzip":
        body = gzip.compress(body)
    elif enc == "deflate":
        body = zlib.compress(body)
    if enc != "identity":
        headers["Content-Encoding"] = "gzip" if enc == "lying-gzip" else enc
        kind += "+" + enc
    return FuzzRequest(path, headers, body, kind)
