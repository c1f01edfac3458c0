"""End to end, as an operator works: a model that is none of the reference models (skl2onnx, INT64 input) pushed
with ``maas models push``, deployed on two tiers with ``maas deploy`` (tritonclient results equal onnxruntime on the
file), v2 pushed and canaried at 20% with ``maas deploy --canary 20`` (its share of 1,000 requests within 20 +/- 4%),
promoted and undone with ``maas rollout``; then, after the shared ``maas run`` is stopped (tests/e2e/conftest.py
orders ``test_after_restart_*`` after ``test_sigterm_*``), ``maas up`` brings it back as it was left (v1 on the
same two tiers, same answers) and ``maas down`` stops it."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import httpx
import numpy as np
import pytest
import tritonclient.http as triton

from maas.polling import PollTimeout, poll_until
from maas.serving.cluster_record import load_record
from tests.support.custom_model import ROWS, onnxruntime_outputs, tree_onnx

MAAS = str(Path(sys.executable).parent / "maas")
NAME = "churn-cli"
TIERS = ["base-station", "ground"]
_state: dict = {}  # what the lifecycle left, for the after-restart check (same module, same package fixture)


def _cli(*args: str, env: dict, timeout_s: float = 600) -> subprocess.CompletedProcess:
    out = subprocess.run([MAAS, *args], capture_output=True, text=True, env=env, timeout=timeout_s)
    assert out.returncode == 0, f"maas {' '.join(args)} exited {out.returncode}: {out.stderr[-2000:]}"
    return out


def _key(data_dir: Path, name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {(data_dir / f'{name}.key').read_text().strip()}"}


def _check_answers(base: str, headers: dict, file: Path, version: str) -> None:
    """tritonclient, unmodified, on each tier: the served version's answers equal onnxruntime on its file."""
    client = triton.InferenceServerClient(url=base.removeprefix("http://"), network_timeout=120, connection_timeout=120)
    inp = triton.InferInput("counts", list(ROWS.shape), "INT64")
    inp.set_data_from_numpy(ROWS, binary_data=True)
    expected = onnxruntime_outputs(file, ROWS)
    for tier in TIERS:
        result = client.infer(NAME, [inp], headers=dict(headers), parameters={"tier": tier})
        params = result.get_response()["parameters"]
        assert (params["tier"], params["model_version"]) == (tier, version)
        np.testing.assert_array_equal(result.as_numpy("label"), expected["label"])
        np.testing.assert_allclose(result.as_numpy("probabilities"), expected["probabilities"], rtol=1e-6)


def _versions(base: str, headers: dict, n: int, concurrency: int = 16) -> list[str]:
    body = {"inputs": [{"name": "counts", "datatype": "INT64", "shape": [1, 4], "data": ROWS[0].tolist()}]}

    async def run() -> list[str]:
        out: list[str] = []
        sem = asyncio.Semaphore(concurrency)
        async with httpx.AsyncClient(timeout=60.0) as client:
            async def one() -> None:
                async with sem:
                    resp = await client.post(f"{base}/v2/models/{NAME}/infer", json=body, headers=headers)
                    assert resp.status_code == 200, resp.text
                    out.append(resp.json()["parameters"]["model_version"])
            await asyncio.gather(*(one() for _ in range(n)))
        return out

    return asyncio.run(run())


def _tiers(base: str, headers: dict) -> list[str]:
    models = httpx.get(f"{base}/v2/models", timeout=10, headers=headers).json()["models"]
    return sorted(next((m["tiers"] for m in models if m["name"] == NAME), []))


def test_an_operator_pushes_deploys_canaries_promotes_and_undoes_with_the_cli(running, tmp_path_factory):
    base, env, _, data_dir = running
    tenant = _key(data_dir, "dev")
    files = tmp_path_factory.mktemp("operator-models")
    v1, v2 = tree_onnx(files / "v1.onnx", 3), tree_onnx(files / "v2.onnx", 5)

    pushed = _cli("models", "push", str(v1), "--name", NAME, env=env)
    assert f"{NAME}:1" in pushed.stdout + pushed.stderr
    listed = json.loads(_cli("models", "show", NAME, env=env).stdout)
    assert listed["version"] == 1 and "fp32" in listed["variants"], listed
    _cli("deploy", f"{NAME}:1", "--tiers", ",".join(TIERS), env=env)
    assert _tiers(base, tenant) == TIERS
    _check_answers(base, tenant, v1, "1")

    _cli("models", "push", str(v2), "--name", NAME, env=env)
    _cli("deploy", f"{NAME}:2", "--tiers", ",".join(TIERS), "--canary", "20", env=env)
    shares = _versions(base, tenant, 1000)
    share = shares.count("2") / len(shares)
    assert 0.16 <= share <= 0.24, share
    status = json.loads(_cli("rollout", "status", NAME, "-o", "json", env=env).stdout)
    assert status["state"]["canary"]["version"] == 2 and status["state"]["percent"] == 20, status

    _cli("rollout", "promote", NAME, env=env)
    assert set(_versions(base, tenant, 40)) == {"2"}
    _check_answers(base, tenant, v2, "2")
    _cli("rollout", "undo", NAME, env=env)
    assert set(_versions(base, tenant, 40)) == {"1"}
    _state.update(v1=v1, share=share)


def test_after_restart_maas_up_brings_the_pushed_model_back_as_it_was_left(running):
    """Runs after ``test_sigterm_*`` stopped ``maas run`` (its ``maas down``): ``maas up`` with the same data dir."""
    if "v1" not in _state:
        pytest.skip("the lifecycle test did not complete: nothing to bring back")
    base, env, proc, data_dir = running
    assert proc.poll() is not None and load_record(data_dir) is None  # the shared platform is down
    try:
        up = _cli("up", env=env, timeout_s=900)
        assert f"restoring {NAME}'s recorded rollout on {', '.join(TIERS)}" in up.stderr, up.stderr[-2000:]
        tenant = _key(data_dir, "dev")
        try:  # `maas up` returns when the gateway serves every placement; poll once more for the HTTP answer
            poll_until(lambda: _tiers(base, tenant) == TIERS, timeout_s=60, what=f"{NAME} on {TIERS}")
        except PollTimeout as exc:
            pytest.fail(str(exc))
        assert set(_versions(base, tenant, 40)) == {"1"}
        _check_answers(base, tenant, _state["v1"], "1")
        actions = [e["action"] for e in json.loads(_cli("rollout", "history", NAME, "-o", "json", env=env).stdout)]
        last_undo = len(actions) - 1 - actions[::-1].index("undo")
        assert "promote" in actions[:last_undo] and "restart" in actions[last_undo:], actions
    finally:
        down = subprocess.run([MAAS, "down"], capture_output=True, text=True, env=env, timeout=300)
    assert down.returncode == 0, down.stderr[-2000:]
    assert load_record(data_dir) is None
