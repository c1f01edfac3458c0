"""End to end: ``maas run`` started as a user starts it (what ``make run`` runs), real HTTP, the operator CLI,
SIGTERM, and none of the Ray processes it started left behind. The platform is the package-scoped ``running``
fixture of tests/e2e/conftest.py (shared with the browser test; the SIGTERM test runs last).

The run gets its own Ray temp dir and data dir, so it starts (and records) its own cluster whatever else runs on
the host; the test follows exactly the processes of that cluster (its session and their descendants), not every
Ray process on the machine."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

from maas.polling import PollTimeout, poll_until
from maas.serving.cluster_record import load_record, record_path
from maas.serving.ray_processes import ProcessInfo, cluster_processes, is_running, list_processes
from tests.support.reference import run_onnx_directly, sample_inputs, v2_inputs

MAAS = str(Path(sys.executable).parent / "maas")


def _poll(predicate, timeout_s: float, what: str):
    try:
        return poll_until(predicate, timeout_s=timeout_s, what=what)
    except PollTimeout as exc:
        pytest.fail(str(exc))


def _started_processes(data_dir: Path) -> list[ProcessInfo]:
    """The processes of the cluster `maas run` recorded: the ones it started and everything they started since."""
    record = load_record(data_dir)
    assert record is not None, f"maas run recorded no cluster in {record_path(data_dir)}"
    assert record.session_dir and record.processes, record
    found = {p.pid: p for p in record.processes}
    found.update({p.pid: p for p in cluster_processes(list_processes(), record.session_dir)})
    return list(found.values())


def _auth(data_dir: Path, name: str = "dev") -> dict[str, str]:
    """The key ``maas run`` wrote on first start (``dev.key`` / ``admin.key`` in the data dir)."""
    return {"Authorization": f"Bearer {(data_dir / f'{name}.key').read_text().strip()}"}


def _cli(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([MAAS, *args], capture_output=True, text=True, env=env, timeout=600)


def test_curl_style_infer_on_every_model_and_tier(running, catalog, models_dir):
    base, env, _, data_dir = running
    status = json.loads(_cli("status", "-o", "json", env=env).stdout)
    reference = set(catalog.names())  # the operator test may have pushed and deployed a model of its own
    placed = {(d["model"], d["tier"]) for d in status["deployments"] if d["status"] == "RUNNING"
              and d["model"] in reference}
    assert len(placed) == len(reference) * 4
    for model, tier in sorted(placed):
        resp = httpx.post(f"{base}/v2/models/{model}/infer", json={"parameters": {"tier": tier}, "inputs": v2_inputs(model)}, timeout=30,
                          headers=_auth(data_dir))
        assert resp.status_code == 200, resp.text
        assert resp.json()["parameters"]["tier"] == tier
        variant = resp.json()["parameters"]["variant"]
        expected = run_onnx_directly(catalog.get(model), models_dir, variant, sample_inputs(model))
        for out in resp.json()["outputs"]:
            ref = expected[out["name"]]
            got = np.array(out["data"], dtype=ref.dtype).reshape(out["shape"])
            np.testing.assert_allclose(got, ref.reshape(got.shape), rtol=1e-5, atol=1e-6)


def test_cli_bad_input_exits_2_with_allowed_values(running):
    _, env, _, _ = running
    unknown_tier = _cli("deploy", "digits-mlp", "--tiers", "moon", env=env)
    assert unknown_tier.returncode == 2 and "allowed: base-station" in unknown_tier.stderr
    unknown_model = _cli("deploy", "gpt-9", "--tiers", "ground", env=env)
    assert unknown_model.returncode == 2 and "gpt-9" in unknown_model.stderr
    bad_output = _cli("status", "-o", "yaml", env=env)
    assert bad_output.returncode == 2 and "allowed: table, json" in bad_output.stderr


def test_undeploy_then_deploy_changes_what_the_gateway_serves(running):
    base, env, _, data_dir = running
    auth = _auth(data_dir)
    assert _cli("undeploy", "maintenance-clf", env=env).returncode == 0

    def tiers_of(model):
        return {m["name"]: m["tiers"] for m in httpx.get(f"{base}/v2/models", timeout=5, headers=auth).json()["models"]}[model]

    _poll(lambda: tiers_of("maintenance-clf") == [], 60, "the gateway to drop maintenance-clf")
    gone = httpx.post(f"{base}/v2/models/maintenance-clf/infer", json={"inputs": v2_inputs("maintenance-clf")}, timeout=30,
                      headers=auth)
    assert gone.status_code == 503 and "not deployed" in gone.json()["error"]
    deployed = _cli("deploy", "maintenance-clf", "--tiers", "ground,base-station", env=env)
    assert deployed.returncode == 0, deployed.stderr
    assert sorted(tiers_of("maintenance-clf")) == ["base-station", "ground"]
    pinned = httpx.post(
        f"{base}/v2/models/maintenance-clf/infer",
        json={"parameters": {"tier": "satellite"}, "inputs": v2_inputs("maintenance-clf")},
        timeout=30,
        headers=auth,
    )
    assert pinned.status_code == 503 and "not deployed on tier 'satellite'" in pinned.json()["error"]


def test_a_tenant_as_an_operator_sets_it_up_keys_limits_and_usage(running):
    """Issue 11's operator path: a tenant with limits and a key; 401 / 403 / 429; usage that matches exactly."""
    base, env, _, data_dir = running
    url = f"{base}/v2/models/digits-mlp/infer"
    body = {"inputs": v2_inputs("digits-mlp")}
    created = _cli("tenants", "create", "acme", "--rpm", "120", "--burst", "60", "--energy-j-per-day", "50", env=env)
    assert created.returncode == 0, created.stderr
    residency = _cli("tenants", "update", "acme", "--tiers", "base-station,optical-access,ground", env=env)
    assert residency.returncode == 0, residency.stderr
    issued = _cli("keys", "create", "acme", env=env)
    assert issued.returncode == 0, issued.stderr
    key = issued.stdout.strip().splitlines()[0]
    auth = {"Authorization": f"Bearer {key}"}
    assert httpx.post(url, json=body, timeout=30).status_code == 401
    metered: list[int] = []  # statuses of acme's requests the platform meters (every one after its key is known)
    energy_j = 0.0

    def send(payload, headers=auth) -> httpx.Response:
        nonlocal energy_j
        resp = httpx.post(url, json=payload, timeout=30, headers=headers)
        assert resp.status_code != 401, resp.text
        metered.append(resp.status_code)
        if resp.status_code == 200:
            energy_j += resp.json()["parameters"]["energy_j"]
        return resp

    pinned = send({**body, "parameters": {"tier": "satellite"}})
    assert pinned.status_code == 403 and "not allowed for tenant 'acme'" in pinned.json()["error"]
    for _ in range(40):
        assert send(body).status_code == 200
    burst = [send(body) for _ in range(100)]  # a bucket of 60 at 2 per second runs dry within this burst
    refused = [r for r in burst if r.status_code == 429]
    assert refused and refused[0].json()["reason"] == "rate_limit" and int(refused[0].headers["retry-after"]) >= 1
    assert refused[0].headers["x-ratelimit-remaining-requests"] == "0"

    second = _cli("keys", "create", "acme", env=env).stdout.strip().splitlines()[0]
    send(body, {"Authorization": f"Bearer {second}"})  # metered as acme's, whatever the bucket says
    revoked = _cli("keys", "revoke", second, env=env)
    assert revoked.returncode == 0, revoked.stderr
    t0 = time.monotonic()
    _poll(lambda: httpx.post(url, json=body, timeout=30, headers={"Authorization": f"Bearer {second}"}
                             ).status_code == 401, 5, "the revoked key to be refused")
    assert time.monotonic() - t0 < 2.0

    def usage() -> dict:
        out = _cli("usage", "--tenant", "acme", "--group-by", "none", "-o", "json", env=env)
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout)["total"]

    _poll(lambda: usage()["requests"] == len(metered), 30, "every metered request to reach the database")
    total = usage()
    assert total["ok"] == metered.count(200)
    assert total["refused"] == metered.count(429)
    assert total["energy_j"] == pytest.approx(energy_j, rel=1e-6)


def test_sigterm_shuts_down_cleanly_with_no_leftover_processes(running):
    _, _, proc, data_dir = running
    started = _started_processes(data_dir)
    names = {p.name for p in started}
    assert {"gcs_server", "raylet"} <= names, names
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=180) == 0
    _poll(lambda: not [p for p in started if is_running(p)], 60, "the Ray processes maas run started to exit")
    assert load_record(data_dir) is None  # maas down dropped the record of the cluster it stopped
