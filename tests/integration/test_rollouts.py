"""An operator's model through the whole lifecycle on real Ray Serve, under open-loop load: pushed over HTTP
(``POST /admin/models``), loaded with tritonclient's ``load_model`` on two tiers (results equal onnxruntime on the
file), v2 pushed and canaried at 20% (its share over 1,000 requests within 20 +/- 4%), promoted, undone; the
load (20 req/s, open loop) sees no failed request through all of it. Uses the package's one Ray instance."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import onnxruntime as ort
import pytest
import tritonclient.http as triton

from maas.registry import open_registry
from maas.registry.rollouts import RolloutStore
from maas.serving import rollout_control
from tests.support.custom_model import ROWS, tree_onnx

NAME = "churn-tree"
TIERS = ["ground", "base-station"]


class OpenLoop:
    """Requests at a fixed rate (not waiting for answers) from a thread, until stopped; every status counted."""

    def __init__(self, url: str, headers: dict, rate_per_s: float) -> None:
        self.url, self.headers, self.interval_s = url, headers, 1.0 / rate_per_s
        self.statuses: list[int] = []
        self.versions: list[str] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=60)

    async def _one(self, client: httpx.AsyncClient) -> None:
        body = {"inputs": [{"name": "counts", "datatype": "INT64", "shape": [1, 4], "data": ROWS[0].tolist()}]}
        try:
            resp = await client.post(self.url, json=body, headers=self.headers)
            self.statuses.append(resp.status_code)
            if resp.status_code == 200:
                self.versions.append(resp.json()["parameters"]["model_version"])
            else:
                self.errors.append(f"{resp.status_code} {resp.text[:200]}")
        except httpx.HTTPError as exc:
            self.statuses.append(-1)
            self.errors.append(type(exc).__name__)

    async def _run(self) -> None:
        async with httpx.AsyncClient(timeout=30.0) as client:
            tasks, start, n = [], time.perf_counter(), 0
            while not self._stop.is_set():
                tasks.append(asyncio.create_task(self._one(client)))
                n += 1
                await asyncio.sleep(max(0.0, start + n * self.interval_s - time.perf_counter()))
            await asyncio.gather(*tasks)


def push(base_url: str, admin: dict, path: Path) -> dict:
    resp = httpx.post(f"{base_url}/admin/models", params={"name": NAME}, content=path.read_bytes(),
                      headers={**admin, "Content-Type": "application/octet-stream"}, timeout=120)
    assert resp.status_code in (200, 201), resp.text
    return resp.json()


async def versions_of(base_url: str, headers: dict, n: int, concurrency: int = 16, path: str = "infer") -> list[str]:
    body = {"inputs": [{"name": "counts", "datatype": "INT64", "shape": [2, 4], "data": ROWS[:2].tolist()}]}
    out: list[str] = []
    sem = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(timeout=30.0) as client:
        async def one():
            async with sem:
                resp = await client.post(f"{base_url}/v2/models/{NAME}/{path}", json=body, headers=headers)
                assert resp.status_code == 200, resp.text
                out.append(resp.json()["parameters"]["model_version"])
        await asyncio.gather(*(one() for _ in range(n)))
    return out


def test_push_load_canary_promote_undo_under_load(platform, base_url, auth_headers, tmp_path, capsys):
    settings = platform[0]
    admin = {"Authorization": f"Bearer {(settings.data_dir / 'admin.key').read_text().strip()}"}
    v1_file, v2_file = tree_onnx(tmp_path / "v1.onnx", 3), tree_onnx(tmp_path / "v2.onnx", 5)

    # push v1 over HTTP; a tenant key may not push
    assert httpx.post(f"{base_url}/admin/models", params={"name": NAME}, content=v1_file.read_bytes(),
                      headers=auth_headers).status_code == 403
    assert push(base_url, admin, v1_file)["version"] == 1

    # load it on two tiers with tritonclient, unmodified; results equal onnxruntime on the file
    client = triton.InferenceServerClient(url=base_url.removeprefix("http://"), network_timeout=300,
                                          connection_timeout=300)
    with pytest.raises(triton.InferenceServerException, match="admin key"):
        client.load_model(NAME, headers=dict(auth_headers))
    client.load_model(NAME, headers=dict(admin), config='{"version": 1, "tiers": ["ground", "base-station"]}')
    index = {(m["name"], m["version"]): m for m in client.get_model_repository_index(headers=dict(auth_headers))}
    assert index[(NAME, "1")]["state"] == "READY" and sorted(index[(NAME, "1")]["tiers"]) == sorted(TIERS)
    inp = triton.InferInput("counts", list(ROWS.shape), "INT64")
    inp.set_data_from_numpy(ROWS, binary_data=True)
    session = ort.InferenceSession(str(v1_file), providers=["CPUExecutionProvider"])
    expected = dict(zip([o.name for o in session.get_outputs()], session.run(None, {"counts": ROWS}), strict=True))
    for tier in TIERS:
        result = client.infer(NAME, [inp], headers=dict(auth_headers), parameters={"tier": tier})  # it adds to the dict
        assert result.get_response()["parameters"]["tier"] == tier
        assert result.get_response()["parameters"]["model_version"] == "1"
        np.testing.assert_array_equal(result.as_numpy("label"), expected["label"])
        np.testing.assert_allclose(result.as_numpy("probabilities"), expected["probabilities"], rtol=1e-6)

    url = f"{base_url}/v2/models/{NAME}/infer"
    with OpenLoop(url, auth_headers, rate_per_s=20) as load:
        t_load = time.perf_counter()
        assert push(base_url, admin, v2_file)["version"] == 2
        # canary v2 at 20% (the control path: what `maas deploy churn-tree:2 --tiers ... --canary 20` runs)
        states = rollout_control.deploy_versions(settings, {NAME: (2, TIERS)}, percent=20)
        t_ready = time.time()
        assert states[NAME].canary_active
        first_v2 = None
        while first_v2 is None and time.time() - t_ready < 10:  # polls the data plane, no fixed wait
            if asyncio.run(versions_of(base_url, auth_headers, 8, 8)).count("2"):
                first_v2 = time.time() - t_ready
        assert first_v2 is not None and first_v2 < 1.0, first_v2
        shares = asyncio.run(versions_of(base_url, auth_headers, 1000))
        share = shares.count("2") / len(shares)
        assert 0.16 <= share <= 0.24, share
        pinned = asyncio.run(versions_of(base_url, auth_headers, 20, path="versions/2/infer"))
        assert set(pinned) == {"2"}

        rollout_control.promote(settings, NAME)
        after_promote = asyncio.run(versions_of(base_url, auth_headers, 50))
        rollout_control.undo(settings, NAME)
        after_undo = asyncio.run(versions_of(base_url, auth_headers, 50))
        seconds = time.perf_counter() - t_load
    assert set(after_promote) == {"2"} and set(after_undo) == {"1"}

    registry = open_registry(settings)
    actions = [e.action for e in RolloutStore(registry.engine).history(NAME)]
    assert actions[-3:] == ["promote", "undo", "ready"], actions
    sent = len(load.statuses)
    with capsys.disabled():
        print(f"\nrollout under load: {sent} requests in {seconds:.1f} s open loop at 20 req/s, "
              f"{len(load.errors)} failed, versions seen {sorted(set(load.versions))}; canary share "
              f"{share:.1%} of {len(shares)}; v2 routable {first_v2 * 1e3:.0f} ms after the control path marked it "
              f"ready")
    assert load.errors == [], load.errors[:5]
    assert sent >= 20 * seconds * 0.8
