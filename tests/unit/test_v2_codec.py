"""The V2 codec: every datatype through JSON and the binary extension, and every malformed body a 400."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest

from maas.api.v2_codec import DATATYPES, decode_request, encode_response
from maas.errors import InvalidInput, Unsupported

SAMPLES = {
    "BOOL": [True, False, True, True],
    "UINT8": [0, 1, 254, 255],
    "UINT16": [0, 1, 65534, 65535],
    "UINT32": [0, 1, 2**32 - 2, 2**32 - 1],
    "UINT64": [0, 1, 2**63, 2**64 - 1],
    "INT8": [-128, -1, 0, 127],
    "INT16": [-32768, -1, 0, 32767],
    "INT32": [-(2**31), -1, 0, 2**31 - 1],
    "INT64": [-(2**63), -1, 0, 2**63 - 1],
    "FP16": [0.5, -1.25, 65504.0, 0.0],
    "FP32": [0.5, -1.25, 3.4e38, 1e-7],
    "FP64": [0.1, -1e300, 2.5, 1e-300],
    "BYTES": ["héllo", "", "wörld", "x" * 300],
}


def _body(inputs: list[dict], **extra) -> bytes:
    return json.dumps({"inputs": inputs, **extra}).encode()


def _binary_request(name: str, datatype: str, shape: list[int], raw: bytes) -> tuple[bytes, int]:
    header = json.dumps(
        {"inputs": [{"name": name, "datatype": datatype, "shape": shape, "parameters": {"binary_data_size": len(raw)}}]}
    ).encode()
    return header + raw, len(header)


@pytest.mark.parametrize("datatype", list(SAMPLES))
def test_json_round_trip_every_datatype(datatype):
    data = SAMPLES[datatype]
    req = decode_request(_body([{"name": "x", "datatype": datatype, "shape": [2, 2], "data": data}]))
    arr = req.inputs[0].array
    assert arr.shape == (2, 2)
    if datatype == "BYTES":
        assert list(arr.reshape(-1)) == [s.encode() for s in data]
    else:
        assert arr.dtype == DATATYPES[datatype]
        np.testing.assert_array_equal(arr.reshape(-1), np.array(data, dtype=DATATYPES[datatype]))
    body, header_len = encode_response(
        model_name="m", model_version="1", request_id="r", outputs={"y": arr}, parameters={}
    )
    assert header_len is None
    out = json.loads(body)["outputs"][0]
    assert out["datatype"] == datatype and out["shape"] == [2, 2]
    if datatype in ("FP16", "FP32"):
        np.testing.assert_array_equal(np.array(out["data"], dtype=DATATYPES[datatype]), arr.reshape(-1))
    else:
        assert out["data"] == data


@pytest.mark.parametrize("datatype", list(SAMPLES))
def test_binary_round_trip_every_datatype(datatype):
    data = SAMPLES[datatype]
    if datatype == "BYTES":
        raw = b"".join(struct.pack("<I", len(s.encode())) + s.encode() for s in data)
    else:
        raw = np.array(data, dtype=DATATYPES[datatype]).tobytes()
    body, hlen = _binary_request("x", datatype, [4], raw)
    arr = decode_request(body, hlen).inputs[0].array
    out_body, out_hlen = encode_response(
        model_name="m", model_version=None, request_id="r", outputs={"y": arr}, parameters={"tier": "ground"},
        binary_outputs={"y"},
    )
    header = json.loads(out_body[:out_hlen])
    assert header["outputs"][0]["parameters"]["binary_data_size"] == len(raw)
    assert out_body[out_hlen:] == raw  # byte-exact, little-endian, row-major
    assert header["parameters"] == {"tier": "ground"} and "model_version" not in header


def test_nested_json_data_is_row_major():
    req = decode_request(_body([{"name": "x", "datatype": "INT32", "shape": [2, 3], "data": [[1, 2, 3], [4, 5, 6]]}]))
    np.testing.assert_array_equal(req.inputs[0].array, [[1, 2, 3], [4, 5, 6]])


def test_id_and_parameters_are_kept():
    req = decode_request(
        _body([{"name": "x", "datatype": "FP32", "shape": [1], "data": [1]}], id="abc", parameters={"site": "s1"})
    )
    assert req.id == "abc" and req.parameters == {"site": "s1"}


def test_two_binary_inputs_split_at_their_sizes():
    a, b = np.arange(3, dtype="<f4").tobytes(), np.arange(2, dtype="<i8").tobytes()
    header = json.dumps({"inputs": [
        {"name": "a", "datatype": "FP32", "shape": [3], "parameters": {"binary_data_size": len(a)}},
        {"name": "b", "datatype": "INT64", "shape": [2], "parameters": {"binary_data_size": len(b)}},
    ]}).encode()
    req = decode_request(header + a + b, len(header))
    np.testing.assert_array_equal(req.inputs[0].array, [0, 1, 2])
    np.testing.assert_array_equal(req.inputs[1].array, [0, 1])


BAD = [
    (b"{not json", None, "not valid JSON"),
    (b"[1, 2]", None, "JSON object"),
    (b'{"inputs": []}', None, "'inputs' is empty"),
    (b'{"id": 5, "inputs": []}', None, "'id' must be a string"),
    (_body([{"datatype": "FP32", "shape": [1], "data": [1]}]), None, "missing field 'name'"),
    (_body([{"name": "x", "datatype": "FP33", "shape": [1], "data": [1]}]), None, "unknown datatype"),
    (_body([{"name": "x", "datatype": "FP32", "shape": [3], "data": [1, 2]}]), None, "needs 3 elements"),
    (_body([{"name": "x", "datatype": "FP32", "shape": [-1], "data": [1]}]), None, "negative dimension"),
    (_body([{"name": "x", "datatype": "FP32", "shape": "2", "data": [1]}]), None, "list of integers"),
    (_body([{"name": "x", "datatype": "FP32", "shape": [1]}]), None, "missing field 'data'"),
    (_body([{"name": "x", "datatype": "INT32", "shape": [1], "data": [1.5]}]), None, "must be integers"),
    (_body([{"name": "x", "datatype": "UINT8", "shape": [1], "data": [256]}]), None, "out of range"),
    (_body([{"name": "x", "datatype": "FP32", "shape": [1], "data": ["a"]}]), None, "must be numbers"),
    (_body([{"name": "x", "datatype": "BOOL", "shape": [1], "data": [1]}]), None, "true/false"),
    (_body([{"name": "x", "datatype": "BYTES", "shape": [1], "data": [1]}]), None, "must be strings"),
    (_body([{"name": "x", "datatype": "FP32", "shape": [2], "data": [[1], [2, 3]]}]), None, "needs 2 elements"),
    (_body([{"name": "x", "datatype": "FP32", "shape": [1], "data": [1]}] * 2), None, "duplicate input"),
    (_body([{"name": "x", "datatype": "FP32", "shape": [1], "data": [1]}], outputs="y"), None, "'outputs'"),
]


@pytest.mark.parametrize(("body", "hlen", "fragment"), BAD)
def test_malformed_requests_are_invalid_input(body, hlen, fragment):
    with pytest.raises(InvalidInput) as err:
        decode_request(body, hlen)
    assert fragment in err.value.message
    assert err.value.status == 400


def test_binary_header_length_past_the_body_is_rejected():
    body, hlen = _binary_request("x", "FP32", [2], np.zeros(2, "<f4").tobytes())
    with pytest.raises(InvalidInput, match="Inference-Header-Content-Length"):
        decode_request(body, len(body) + 1)
    with pytest.raises(InvalidInput, match="not valid JSON"):
        decode_request(body, hlen - 3)


def test_binary_size_that_disagrees_with_shape_is_rejected():
    body, hlen = _binary_request("x", "FP32", [3], np.zeros(2, "<f4").tobytes())
    with pytest.raises(InvalidInput, match="needs 12 bytes"):
        decode_request(body, hlen)


def test_unclaimed_binary_bytes_are_rejected():
    body, hlen = _binary_request("x", "FP32", [2], np.zeros(2, "<f4").tobytes())
    with pytest.raises(InvalidInput, match="no input claims"):
        decode_request(body + b"\0\0", hlen)


def test_truncated_bytes_element_is_rejected():
    raw = struct.pack("<I", 10) + b"abc"
    body, hlen = _binary_request("x", "BYTES", [1], raw)
    with pytest.raises(InvalidInput, match="runs past"):
        decode_request(body, hlen)


def test_bf16_is_unsupported_not_unknown():
    with pytest.raises(Unsupported) as err:
        decode_request(_body([{"name": "x", "datatype": "BF16", "shape": [1], "data": [1]}]))
    assert err.value.status == 501
