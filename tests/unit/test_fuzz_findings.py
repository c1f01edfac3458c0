"""Regressions for the 5xx ``make fuzz`` found (each now a 400 naming the problem), on the in-process app."""

from __future__ import annotations

import json

import pytest

CASES = [
    # an empty tensor whose other dimensions multiply past what numpy can describe (was a 500: ValueError in reshape)
    ("json", {"inputs": [{"name": "pixels", "datatype": "FP32", "shape": [0, 2**26, 2**26, 2**26], "data": []}]}),
    ("binary", {"inputs": [{"name": "pixels", "datatype": "FP32", "shape": [0, 2**40, 2**40],
                            "parameters": {"binary_data_size": 0}}]}),
]


@pytest.mark.parametrize(("kind", "doc"), CASES)
def test_fuzz_finding_is_a_400(local, kind, doc):
    client, _, _ = local
    body = json.dumps(doc).encode()
    headers = {"Inference-Header-Content-Length": str(len(body))} if kind == "binary" else {}
    r = client.post("/v2/models/digits-mlp/infer", content=body, headers=headers)
    assert r.status_code == 400 and "product exceeds" in r.json()["error"], r.text
