"""Background refresh (``maas.api.background``): jobs run in worker threads and apply on the event loop, a
failure is retried, owners check on the request path again once stopped; and a data plane in background mode
reads keys and faults without a database read on the request path, yet sees another replica's fault."""

from __future__ import annotations

import asyncio
import tempfile
import threading
import time
from pathlib import Path

import pytest

from maas.api.background import Refresher, refresh_in_background
from maas.api.service import prepare_service
from maas.clock import ManualClock
from maas.settings import load_settings
from tests.unit.conftest import START_S, make_client

DIGITS = {"inputs": [{"name": "pixels", "datatype": "FP32", "shape": [1, 64], "data": [0.0] * 64}]}


def poll(condition, timeout_s: float = 10.0, what: str = "condition"):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.01)
    raise AssertionError(f"{what} not true within {timeout_s} s")


class Owner:
    in_background = False


def test_jobs_run_in_threads_apply_on_the_loop_and_survive_failures() -> None:
    owner = Owner()
    seen: dict[str, object] = {"run": set(), "apply": set()}
    calls = {"n": 0}

    def run() -> int:
        seen["run"].add(threading.get_ident())
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("database is locked")
        return calls["n"]

    applied: list[int] = []

    async def main() -> tuple[int, bool, bool]:
        refresher = Refresher()
        refresher.add("table", run, apply=lambda r: (applied.append(r), seen["apply"].add(threading.get_ident())),
                      period_s=0.01, owner=owner)
        loop_thread = threading.get_ident()
        await refresher.start()
        started_flag = owner.in_background
        deadline = time.monotonic() + 10
        while refresher.runs["table"] < 3 and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        await refresher.stop()
        return loop_thread, started_flag, refresher.running

    loop_thread, started_flag, running = asyncio.run(main())
    assert started_flag and not owner.in_background and not running
    assert loop_thread not in seen["run"] and seen["apply"] == {loop_thread}
    assert 2 not in applied and applied[:2] == [1, 3]  # the failed run applied nothing, the next one did


def test_period_must_be_positive() -> None:
    with pytest.raises(ValueError, match="period_s must be > 0"):
        Refresher().add("x", lambda: None, period_s=0)


@pytest.fixture(scope="module")
def replicas(models_dir, catalog):
    data_dir = Path(tempfile.mkdtemp(prefix="maas-background-"))
    prepare_service(load_settings(None, models_dir=models_dir, data_dir=data_dir, auth=True), ManualClock(START_S))
    admin = {"Authorization": f"Bearer {(data_dir / 'admin.key').read_text().strip()}"}
    dev = {"Authorization": f"Bearer {(data_dir / 'dev.key').read_text().strip()}"}
    a = make_client(models_dir, catalog, data_dir=data_dir, auth=True)
    refresher = refresh_in_background(a[0].app)
    b = make_client(models_dir, catalog, data_dir=data_dir, auth=True)
    with a[0], b[0]:
        yield a[0], b[0], refresher, admin, dev


def test_requests_read_no_database_in_background_mode(replicas) -> None:
    a, _, refresher, _, dev = replicas
    watcher = a.app.state.fault_watcher
    authenticator = a.app.state.dataplane.service.authenticator
    assert watcher.in_background and set(refresher.runs) == {"faults", "keys"}
    assert a.post("/v2/models/digits-mlp/infer", json=DIGITS, headers=dev).status_code == 200
    poll(lambda: refresher.runs["keys"] >= 1, what="a key refresh")
    watcher.read = lambda: pytest.fail("the request path read the fault table")  # only the background may
    try:
        loads = authenticator.loads
        runs = refresher.runs["keys"]
        for _ in range(50):
            assert a.post("/v2/models/digits-mlp/infer", json=DIGITS, headers=dev).status_code == 200
        # every key read since came from the background job (one query per run, one may have been in flight at
        # the first count), none from the 50 requests
        assert authenticator.loads - loads <= refresher.runs["keys"] - runs + 1 < 50
    finally:
        del watcher.read


def test_another_replicas_fault_reaches_a_background_replica(replicas) -> None:
    a, b, refresher, admin, dev = replicas
    r = b.post("/admin/faults", json={"tier": "satellite", "for_s": 600, "note": "drill"}, headers=admin)
    assert r.status_code == 201, r.text
    try:
        watcher = a.app.state.fault_watcher
        poll(lambda: [f.tier for f in watcher.active] == ["satellite"], what="replica a applying b's fault")
        pinned = a.post("/v2/models/digits-mlp/infer", json={**DIGITS, "parameters": {"tier": "satellite"}},
                        headers=dev)
        assert pinned.status_code == 503 and "satellite: fault: outage" in pinned.json()["error"]
    finally:
        b.post("/admin/faults/satellite/restore", headers=admin)
