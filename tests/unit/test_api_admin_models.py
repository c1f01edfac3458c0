"""Model management over HTTP without a cluster: ``POST /admin/models`` (raw body and multipart, admin key only,
the same checks and errors as ``maas models push``, nothing registered on a refusal), the repository index, and
load/unload answering 503 where no Ray control path exists."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from maas.metering import Keys, Tenants, load_server_secret
from maas.registry import open_registry
from maas.store import make_engine, migrate
from tests.unit.conftest import make_client
from tests.unit.registry_support import sklearn_onnx, snapshot


@pytest.fixture()
def admin_env(models_dir, catalog, tmp_path):
    data_dir = Path(tempfile.mkdtemp(prefix="maas-adm-"))
    client, clock, _ = make_client(models_dir, catalog, auth=True, data_dir=data_dir)
    engine = make_engine(f"sqlite:///{data_dir / 'maas.db'}")
    migrate(engine)
    keys = Keys(engine, load_server_secret(data_dir), clock)
    Tenants(engine, clock).create("acme")
    admin = {"Authorization": f"Bearer {keys.create(None, scope='admin').key}"}
    tenant = {"Authorization": f"Bearer {keys.create('acme').key}"}
    settings = client.app.state.dataplane._settings
    with client:
        yield client, admin, tenant, settings, tmp_path


def test_push_raw_and_multipart_then_same_bytes_is_a_no_op(admin_env):
    client, admin, tenant, settings, tmp = admin_env
    data = sklearn_onnx(tmp / "m.onnx", "tree").read_bytes()
    r = client.post("/admin/models?name=churn", content=data, headers=tenant)
    assert r.status_code == 403 and "admin key" in r.json()["error"]
    r = client.post("/admin/models?name=churn&description=trees", content=data, headers=admin)
    assert r.status_code == 201, r.text
    assert r.json()["version"] == 1 and r.json()["created"] is True and set(r.json()["variants"]) == {"fp32", "int8"}
    other = sklearn_onnx(tmp / "l.onnx", "logistic").read_bytes()
    r = client.post("/admin/models", files={"file": ("l.onnx", other)}, data={"name": "churn"}, headers=admin)
    assert r.status_code == 201 and r.json()["version"] == 2, r.text
    r = client.post("/admin/models?name=churn", content=data, headers=admin)
    assert r.status_code == 200 and r.json()["created"] is False and "nothing changed" in r.json()["message"]
    index = client.post("/v2/repository/index", headers=tenant).json()
    mine = [(m["name"], m["version"], m["state"]) for m in index if m["name"] == "churn"]
    assert mine == []  # the LocalBackend data plane serves models_dir's catalog, not the registry's


@pytest.mark.parametrize(
    ("query", "body", "status", "fragment"),
    [
        ("name=churn", b"not onnx at all", 400, "ONNX"),
        ("name=Bad%20Name", None, 400, "not a valid model name"),
        ("", None, 400, "name: missing"),
        ("name=churn&version=x", None, 400, "version"),
    ],
)
def test_refused_pushes_leave_the_registry_unchanged(admin_env, query, body, status, fragment):
    client, admin, _, settings, tmp = admin_env
    registry = open_registry(settings)
    before = snapshot(registry)
    data = body if body is not None else sklearn_onnx(tmp / "m.onnx", "tree").read_bytes()
    r = client.post(f"/admin/models?{query}", content=data, headers=admin)
    assert r.status_code == status and fragment in r.json()["error"], r.text
    assert snapshot(registry) == before


def test_load_and_unload_need_an_admin_key_and_a_cluster(admin_env):
    client, admin, tenant, _, _ = admin_env
    assert client.post("/v2/repository/models/digits-mlp/load", headers=tenant).status_code == 403
    r = client.post("/v2/repository/models/digits-mlp/load", headers=admin)
    assert r.status_code == 503 and "Ray cluster" in r.json()["error"]
    r = client.post("/v2/repository/models/digits-mlp/load", content=b'{"parameters": {"config": "{\\"version\\": 0}"}}',
                    headers=admin)
    assert r.status_code == 400 and "config.version" in r.json()["error"]
    index = client.post("/v2/repository/index", headers=tenant).json()
    assert {"name": "digits-mlp", "version": "1", "state": "READY"}.items() <= next(
        m for m in index if m["name"] == "digits-mlp").items()
