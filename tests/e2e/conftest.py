"""The platform as users start it (``maas run``), once for the e2e package: tests/e2e/test_platform_cli.py and the
browser test share it (one Ray instance). The test that stops it (``test_sigterm_*``) runs last."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx
import pytest

from maas.loadtest.stubserver import free_port
from maas.polling import PollTimeout, poll_until
from maas.serving.ray_env import HAPROXY_ENV

MAAS = str(Path(sys.executable).parent / "maas")


def _order(item) -> int:
    """0: the tests of the running platform; 1: the one that stops it; 2: those that start it again themselves."""
    return 2 if item.name.startswith("test_after_restart_") else 1 if item.name.startswith("test_sigterm_") else 0


def pytest_collection_modifyitems(items):
    """Tests that stop the shared platform (named ``test_sigterm_*``) run after every other e2e test, and those that
    start it again (``test_after_restart_*``) after them (the other packages' tests keep their places)."""
    here = Path(__file__).parent
    slots = [i for i, item in enumerate(items) if here in Path(str(item.path)).parents]
    ours = sorted((items[i] for i in slots), key=_order)
    for i, item in zip(slots, ours, strict=True):
        items[i] = item


def _auth(data_dir: Path, name: str = "dev") -> dict[str, str]:
    return {"Authorization": f"Bearer {(data_dir / f'{name}.key').read_text().strip()}"}


@pytest.fixture(scope="package")
def running(models_dir, tmp_path_factory):
    # Its own Ray temp dir (no address file of another cluster to join; short, as Ray's socket paths must fit in
    # 107 bytes) and data dir (where it records the cluster it starts).
    ray_tmp = Path(tempfile.mkdtemp(prefix="maas-e2e-", dir="/tmp"))
    data_dir = tmp_path_factory.mktemp("maas-data")
    port = free_port()
    env = {**os.environ, "MAAS_PORT": str(port), "MAAS_GRPC_PORT": str(free_port()), "MAAS_MODELS_DIR": str(models_dir),
           "RAY_TMPDIR": str(ray_tmp), "MAAS_DATA_DIR": str(data_dir)}
    for inherited in ("MAAS_RAY_ADDRESS", "RAY_ADDRESS", *HAPROXY_ENV):  # maas run chooses its own HAProxy ports
        env.pop(inherited, None)
    proc = subprocess.Popen([MAAS, "run"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"

    def ready():
        if proc.poll() is not None:
            pytest.fail(f"maas run exited early ({proc.returncode}): {proc.stdout.read()}")
        if not (data_dir / "dev.key").exists():
            return False
        try:
            models = httpx.get(f"{base}/v2/models", timeout=2, headers=_auth(data_dir)).json()["models"]
            return all(len(m["tiers"]) == 4 for m in models) and len(models) >= 3
        except (httpx.HTTPError, ValueError, KeyError):
            return False

    try:
        try:
            poll_until(ready, timeout_s=420, what="maas run to serve every model on every tier")
        except PollTimeout as exc:
            pytest.fail(str(exc))
        yield base, env, proc, data_dir
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=180)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(ray_tmp, ignore_errors=True)
