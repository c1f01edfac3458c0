"""A 500-case smoke of ``make fuzz`` against the FastAPI app in-process (the same create_app, data plane, codec,
service guard and tier workers the gateway runs; TestClient, no sockets): schemathesis over every operation of
/openapi.json (V2, admin, usage) as admin, tenant and nobody, plus hypothesis V2 bodies (JSON and binary, every
datatype, shapes, parameters, headers, compression). 0 responses >= 500, 0 hangs, healthy afterwards.

Runs in ``make test`` only with ``MAAS_FUZZ_SMOKE=1`` (set by .ci/run)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from maas.api.service import prepare_service
from maas.clock import ManualClock
from maas.settings import load_settings
from tests.fuzz.runner import Tally, fuzz_openapi, fuzz_v2, httpx_send
from tests.unit.conftest import START_S, make_client

pytestmark = pytest.mark.skipif(os.environ.get("MAAS_FUZZ_SMOKE") != "1", reason="set MAAS_FUZZ_SMOKE=1")
CASES = 500
TIMEOUT_S = 10.0


def test_fuzz_smoke_no_5xx_no_hang(models_dir, catalog):
    import schemathesis

    data_dir = Path(tempfile.mkdtemp(prefix="maas-fuzz-"))
    prepare_service(load_settings(None, models_dir=models_dir, data_dir=data_dir, auth=True), ManualClock(START_S))
    admin, dev = (f"Bearer {(data_dir / f).read_text().strip()}" for f in ("admin.key", "dev.key"))
    in_process, _, _ = make_client(models_dir, catalog, data_dir=data_dir, auth=True)
    # a server error must come back as the 500 a client would see, to be counted, not raised in the test
    with TestClient(in_process.app, raise_server_exceptions=False) as client:
        send = httpx_send(client, None)
        tally = Tally(hang_s=TIMEOUT_S)
        schema = schemathesis.openapi.from_asgi("/openapi.json", client.app)
        auths = {"admin": {"Authorization": admin}, "tenant": {"Authorization": dev}, "nobody": {}}
        fuzz_openapi(schema, send, tally, per_operation=4, auths=auths)
        openapi_cases = tally.total
        fuzz_v2(send, tally, cases=CASES - openapi_cases, auth={"Authorization": dev}, models=tuple(catalog.names()))
        doc = tally.to_dict()
        assert doc["cases"] >= CASES - 10 and openapi_cases >= 100, doc["by_group"]
        assert doc["server_errors"] == 0 and doc["hangs"] == 0, doc["findings"][:5]
        assert client.get("/v2/health/ready").status_code == 200
        ok = client.post("/v2/models/digits-mlp/infer", headers={"Authorization": dev},
                         json={"inputs": [{"name": "pixels", "datatype": "FP32", "shape": [1, 64], "data": [0.0] * 64}]})
        assert ok.status_code == 200, ok.text
