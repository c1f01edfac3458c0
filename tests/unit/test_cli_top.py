"""``maas top --once``: one frame of the status page's figures from a running platform (the in-process app),
with the admin key from the flag or <data_dir>/admin.key; a tenant key or no key is exit 2 with the reason."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from maas.cli import remote
from maas.cli.main import app
from tests.unit.admin_support import Platform, platform, world  # noqa: F401

URL = "http://gateway.test:8000"
runner = CliRunner()


@pytest.fixture
def top(platform: Platform, monkeypatch, tmp_path: Path):  # noqa: F811
    monkeypatch.setattr(remote, "open_client", lambda url, timeout_s: contextlib.nullcontext(platform.client))

    def run(*args: str):
        return runner.invoke(app, ["top", "--once", "--url", URL, "--data-dir", str(tmp_path), *args],
                             env={"COLUMNS": "160"})

    return run


def test_top_once_prints_the_tiers_and_counts(top, platform: Platform, tmp_path: Path) -> None:  # noqa: F811
    platform.tenants.create("acme")
    key = platform.keys.create("acme").key
    for _ in range(3):
        assert platform.infer(key) == 200
    out = top("--admin-key", platform.admin_key)
    assert out.exit_code == 0, out.output
    for tier in ("base-station", "optical-access", "ground", "satellite"):
        assert tier in out.output
    assert "requests 3" in out.output and "served 3" in out.output
    assert "digits-mlp" in out.output and "satellite:" in out.output
    (tmp_path / "admin.key").write_text(platform.admin_key + "\n")  # the default: <data_dir>/admin.key
    assert top().exit_code == 0


def test_top_needs_an_admin_key(top, platform: Platform) -> None:  # noqa: F811
    none = top()
    assert none.exit_code == 2 and "needs an admin key" in none.output
    platform.tenants.create("acme")
    tenant = top("--admin-key", platform.keys.create("acme").key)
    assert tenant.exit_code == 2 and "only its own usage" in tenant.output
    bad = top("--interval-s", "0")
    assert bad.exit_code == 2 and "--interval-s" in bad.output


def test_top_shows_the_rollouts_in_progress(top, platform: Platform, monkeypatch) -> None:  # noqa: F811
    moving = {"model": "churn", "percent": 20, "auto_rollback": False,
              "stable": {"version": 1, "tiers": ["ground"], "ready": ["ground"]},
              "canary": {"version": 2, "tiers": ["ground", "satellite"], "ready": ["ground"]},
              "uplinks": [{"version": 2, "tier": "satellite", "state": "uplinking", "bytes_sent": 1000,
                           "bytes_total": 4000, "eta_s": None, "next_window_start_s": None}]}
    still = {**moving, "model": "steady", "canary": None, "percent": None, "uplinks": []}
    monkeypatch.setattr(platform.client.app.state, "rollout_summary", lambda: [moving, still], raising=False)
    out = top("--admin-key", platform.admin_key)
    assert out.exit_code == 0, out.output
    assert "rollouts in progress" in out.output and "steady" not in out.output
    assert "v2 on ground, satellite (1/2 ready) · 20 %" in out.output
    assert "v2 satellite uplinking 1,000/4,000 B" in out.output
