"""Which Ray cluster the platform commands use, decided before Ray is touched (issue 17): a leftover
``ray_current_cluster`` file naming a dead GCS is found within seconds and replaced by a fresh cluster; a dead
explicit MAAS_RAY_ADDRESS is an error. Probes hit closed or listening localhost ports only; no Ray starts."""

from __future__ import annotations

import socket
import time

import pytest

from maas.errors import ConfigError, NotReady
from maas.serving.ray_address import (
    ADDRESS_FILE,
    choose_cluster,
    gcs_answers,
    gcs_host_port,
    ray_temp_dir,
    read_address_file,
)

DETECT_WITHIN_S = 10.0


def _closed_port() -> int:
    """A localhost port nothing listens on: bound by the kernel's pick, then released without listening."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def listener():
    server = socket.create_server(("127.0.0.1", 0))
    yield f"127.0.0.1:{server.getsockname()[1]}"
    server.close()


def _leave_address_file(temp_dir, address: str) -> None:
    temp_dir.mkdir(parents=True, exist_ok=True)
    (temp_dir / ADDRESS_FILE).write_text(address + "\n")


def test_a_stale_address_file_is_detected_fast_and_a_fresh_cluster_is_chosen(tmp_path):
    dead = f"127.0.0.1:{_closed_port()}"
    temp_dir = tmp_path / "ray"
    _leave_address_file(temp_dir, dead)
    started = time.monotonic()
    choice = choose_cluster(None, recorded=None, temp_dir=temp_dir, timeout_s=2.0)
    elapsed_s = time.monotonic() - started
    assert choice.address is None and not choice.started_by_maas  # nothing to join: start a fresh one
    assert len(choice.found) == 1
    assert str(temp_dir / ADDRESS_FILE) in choice.found[0] and dead in choice.found[0]
    assert elapsed_s < DETECT_WITHIN_S


def test_a_live_address_file_is_joined_but_not_ours(tmp_path, listener):
    temp_dir = tmp_path / "ray"
    _leave_address_file(temp_dir, listener)
    choice = choose_cluster(None, recorded=None, temp_dir=temp_dir, timeout_s=2.0)
    assert choice.address == listener and not choice.started_by_maas and choice.found == []


def test_the_recorded_cluster_comes_first_and_is_ours(tmp_path, listener):
    temp_dir = tmp_path / "ray"
    _leave_address_file(temp_dir, f"127.0.0.1:{_closed_port()}")
    choice = choose_cluster("auto", recorded=listener, temp_dir=temp_dir, timeout_s=2.0)
    assert choice.address == listener and choice.started_by_maas


def test_a_dead_record_and_a_dead_file_are_both_reported(tmp_path):
    recorded, current = f"127.0.0.1:{_closed_port()}", f"127.0.0.1:{_closed_port()}"
    temp_dir = tmp_path / "ray"
    _leave_address_file(temp_dir, current)
    choice = choose_cluster(None, recorded=recorded, temp_dir=temp_dir, timeout_s=2.0)
    assert choice.address is None
    assert [recorded in choice.found[0], current in choice.found[1]] == [True, True]


def test_no_file_no_record_means_start_one_with_nothing_to_report(tmp_path):
    probes = []
    choice = choose_cluster(None, recorded=None, temp_dir=tmp_path / "ray", timeout_s=2.0,
                            answers=lambda a, t: probes.append(a) or True)
    assert choice.address is None and choice.found == [] and probes == []


def test_a_dead_explicit_address_is_a_clear_error_and_nothing_else_is_tried(tmp_path, listener):
    dead = f"127.0.0.1:{_closed_port()}"
    temp_dir = tmp_path / "ray"
    _leave_address_file(temp_dir, listener)  # a live fallback exists, but an explicit address is not second-guessed
    started = time.monotonic()
    with pytest.raises(NotReady, match=f"MAAS_RAY_ADDRESS={dead}: no Ray GCS answers there within 2 s"):
        choose_cluster(dead, recorded=listener, temp_dir=temp_dir, timeout_s=2.0)
    assert time.monotonic() - started < DETECT_WITHIN_S


def test_a_live_explicit_address_is_used(tmp_path, listener):
    assert choose_cluster(listener, recorded=None, temp_dir=tmp_path, timeout_s=2.0).address == listener


def test_a_garbled_address_file_counts_as_stale(tmp_path):
    temp_dir = tmp_path / "ray"
    _leave_address_file(temp_dir, "not-an-address")
    choice = choose_cluster(None, recorded=None, temp_dir=temp_dir, timeout_s=2.0)
    assert choice.address is None and "not-an-address" in choice.found[0]


def test_probe_answers_only_when_something_listens(listener):
    assert gcs_answers(listener, 2.0)
    assert not gcs_answers(f"127.0.0.1:{_closed_port()}", 2.0)


@pytest.mark.parametrize("address, expected", [
    ("10.0.0.5:6379", ("10.0.0.5", 6379)),
    ("ray://head:10001", ("head", 10001)),
    ("[::1]:6379", ("::1", 6379)),
])
def test_gcs_host_port(address, expected):
    assert gcs_host_port(address) == expected


@pytest.mark.parametrize("address", ["head", "head:", ":6379", "head:port", "head:70000"])
def test_gcs_host_port_rejects_malformed_addresses(address):
    with pytest.raises(ConfigError, match="not host:port"):
        gcs_host_port(address)


def test_ray_temp_dir_follows_ray_rules(tmp_path):
    assert ray_temp_dir({"RAY_TMPDIR": "/a", "TMPDIR": "/b"}) == ray_temp_dir({"RAY_TMPDIR": "/a"})
    assert str(ray_temp_dir({"RAY_TMPDIR": "/a"})) == "/a/ray"
    assert str(ray_temp_dir({})) == "/tmp/ray"
    assert read_address_file(tmp_path) is None
    _leave_address_file(tmp_path, "1.2.3.4:6379")
    assert read_address_file(tmp_path) == "1.2.3.4:6379"
