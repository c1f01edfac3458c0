"""The operator commands against a stale or dead cluster address, without starting Ray (issue 17): ``maas status``
and ``maas down`` find a leftover ``ray_current_cluster`` naming a dead GCS within seconds and say so; a dead
MAAS_RAY_ADDRESS exits 1 naming it; ``maas down`` with nothing recorded stops nothing."""

from __future__ import annotations

import socket
import time

import pytest
from typer.testing import CliRunner

from maas.cli.main import app
from maas.serving.ray_address import ADDRESS_FILE
from maas.serving.ray_env import RAY_ENV


def _closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def stale(tmp_path, monkeypatch):
    """A Ray temp dir whose address file names a dead GCS, and an empty data dir (maas started nothing)."""
    for key, value in RAY_ENV.items():  # the CLI applies these to os.environ; undo them afterwards
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("RAY_TMPDIR", str(tmp_path))
    monkeypatch.setenv("MAAS_DATA_DIR", str(tmp_path / ".maas"))
    monkeypatch.delenv("MAAS_RAY_ADDRESS", raising=False)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    dead = f"127.0.0.1:{_closed_port()}"
    (tmp_path / "ray").mkdir()
    (tmp_path / "ray" / ADDRESS_FILE).write_text(dead)
    return dead


@pytest.fixture
def connects(stale, monkeypatch):
    """Every address the commands tried to join with Ray (ray.init happens only in platform.connect)."""
    from maas.serving import platform

    calls: list[str] = []
    monkeypatch.setattr(platform, "connect", calls.append)
    return calls


def _invoke(*args: str):
    started = time.monotonic()
    result = CliRunner().invoke(app, list(args))
    return result, time.monotonic() - started


def test_status_reports_the_stale_address_and_that_nothing_runs(stale, connects):
    result, elapsed_s = _invoke("status")
    assert result.exit_code == 1, result.output
    assert "stale Ray address file" in result.output and stale in result.output
    assert "the platform is not running" in result.output
    assert elapsed_s < 10.0 and connects == []


def test_a_dead_explicit_address_exits_1_naming_it(stale, connects, monkeypatch):
    dead = f"127.0.0.1:{_closed_port()}"
    monkeypatch.setenv("MAAS_RAY_ADDRESS", dead)
    for command in (["status"], ["down"]):
        result, elapsed_s = _invoke(*command)
        assert result.exit_code == 1, result.output
        assert f"MAAS_RAY_ADDRESS={dead}: no Ray GCS answers" in result.output and "Traceback" not in result.output
        assert elapsed_s < 10.0
    assert connects == []


def test_down_with_nothing_recorded_stops_nothing(stale, connects, tmp_path):
    result, elapsed_s = _invoke("down")
    assert result.exit_code == 0, result.output
    assert "stale Ray address file" in result.output and "maas is down" in result.output
    assert elapsed_s < 10.0 and connects == []
    assert (tmp_path / "ray" / ADDRESS_FILE).read_text() == stale  # not ours: left as found
