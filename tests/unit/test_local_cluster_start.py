"""``maas up``'s embedded start records what it started, and ``maas down``'s stop ends exactly that, checked
against a stand-in ``ray`` command (it leaves one "GCS" process behind and prints the address as ``ray start
--head`` does); no Ray starts."""

from __future__ import annotations

import os
import signal
import socket
import sys
import textwrap

import pytest

from maas.serving.cluster_record import load_record, stop_recorded_cluster
from maas.serving.layout import load_layout
from maas.serving.ray_address import ADDRESS_FILE
from maas.serving.ray_processes import cluster_processes, is_running, list_processes
from maas.settings import load_settings
from maas.tiers import load_topology


@pytest.fixture
def fake_ray(tmp_path, monkeypatch):
    """A `ray` that starts a detached sleeper naming a GCS port and session dir, writes Ray's address file and
    prints the join line; returns (address, session dir, where it logs its argv)."""
    from maas.serving import platform

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    address, session = f"127.0.0.1:{port}", str(tmp_path / "ray" / "session_fake_1")
    argv_log = tmp_path / "argv.txt"
    script = tmp_path / "ray-cli"
    script.write_text(textwrap.dedent(f"""\
        #!{sys.executable}
        import os, subprocess, sys
        open({str(argv_log)!r}, "w").write(" ".join(sys.argv[1:]))
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)", "--gcs_server_port={port}",
                          "--session-dir={session}"], start_new_session=True,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.makedirs({str(tmp_path / "ray")!r}, exist_ok=True)
        open(os.path.join({str(tmp_path / "ray")!r}, "{ADDRESS_FILE}"), "w").write("{address}")
        print("To add another node to this Ray cluster, run")
        print("  ray start --address='{address}'")
    """))
    script.chmod(0o755)
    monkeypatch.setattr(platform, "_ray_cli", lambda: str(script))
    monkeypatch.setenv("RAY_TMPDIR", str(tmp_path))
    yield address, session, argv_log
    for leftover in cluster_processes(list_processes(), session):  # only if the test failed before stopping it
        os.kill(leftover.pid, signal.SIGKILL)


def test_start_records_the_head_and_stop_ends_exactly_it(fake_ray, tmp_path):
    from maas.serving import platform

    address, session, argv_log = fake_ray
    settings = load_settings(None, data_dir=tmp_path / ".maas")
    topology = load_topology(settings.topology_path)
    record = platform.start_local_cluster(topology, load_layout(settings.layout_path, topology.tier_names), settings)

    assert "--head" in argv_log.read_text() and "tier:" in argv_log.read_text()
    assert (record.gcs_address, record.session_dir, record.ray_temp_dir) == (address, session, str(tmp_path / "ray"))
    assert load_record(settings.data_dir) == record
    [gcs] = record.processes
    assert is_running(gcs) and f"--gcs_server_port={address.rsplit(':', 1)[1]}" in gcs.argv

    stop_recorded_cluster(record, grace_s=5.0)
    assert not is_running(gcs)
    assert not (tmp_path / "ray" / ADDRESS_FILE).exists()
