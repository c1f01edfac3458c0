"""``maas down`` stops only the cluster ``maas up`` started: a cluster's processes are those naming its session
dir plus their descendants; other sessions (a user's own Ray) and a reused pid are never signalled. Real child
processes stand in for Ray daemons (``python -c ... --session-dir=...``); no Ray starts."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from maas.errors import ConfigError
from maas.serving.cluster_record import (
    ClusterRecord,
    load_record,
    record_path,
    remove_record,
    save_record,
    stop_recorded_cluster,
)
from maas.serving.ray_address import ADDRESS_FILE
from maas.serving.ray_processes import (
    ProcessInfo,
    cluster_processes,
    is_running,
    list_processes,
    run_unblocked,
    session_dir_of_gcs,
    stop_processes,
)

OURS = "/tmp/ray/session_2026-12-03_05-00-00_000001_111"
THEIRS = "/tmp/ray/session_2026-12-03_05-00-00_000001_1112"  # a prefix of ours plus a digit: not ours


def _fake_proc(root: Path, pid: int, ppid: int, argv: list[str], start: int = 1000, state: str = "S") -> None:
    d = root / str(pid)
    d.mkdir()
    rest = [state, str(ppid)] + ["0"] * 17 + [str(start)] + ["0"] * 10
    (d / "stat").write_text(f"{pid} (odd) name) {' '.join(rest)}\n")
    (d / "cmdline").write_bytes(b"\0".join(a.encode() for a in argv) + b"\0")


@pytest.fixture
def fake_proc(tmp_path):
    root = tmp_path / "proc"
    root.mkdir()
    _fake_proc(root, 10, 1, ["/x/gcs_server", "--gcs_server_port=6379", f"--session-dir={OURS}"])
    _fake_proc(root, 11, 1, ["/x/raylet", f"--session_dir={OURS}", "--gcs-address=10.0.0.1:6379"])
    _fake_proc(root, 12, 11, ["ray::ServeController"])  # a worker: its argv no longer names the session
    _fake_proc(root, 13, 12, ["haproxy", "-f", "/x/cfg"])  # started by a worker
    _fake_proc(root, 14, 1, ["python", "log_monitor.py", f"--logs-dir={OURS}/logs"])
    _fake_proc(root, 20, 1, ["/x/gcs_server", "--gcs_server_port=6380", f"--session-dir={THEIRS}"])
    _fake_proc(root, 21, 20, ["ray::IDLE"])
    _fake_proc(root, 30, 1, ["tail", "-f", f"{OURS}/logs/raylet.out"])  # a user's shell, not Ray
    (root / "self").mkdir()
    return root


def test_list_processes_reads_pid_parent_start_and_argv(fake_proc):
    procs = {p.pid: p for p in list_processes(fake_proc)}
    assert sorted(procs) == [10, 11, 12, 13, 14, 20, 21, 30]
    assert procs[12] == ProcessInfo(12, 11, 1000, ("ray::ServeController",))  # comm with ") " parsed past
    assert procs[11].name == "raylet"


def test_session_dir_is_read_from_the_gcs_server_on_that_port(fake_proc):
    procs = list_processes(fake_proc)
    assert session_dir_of_gcs(procs, 6379) == OURS
    assert session_dir_of_gcs(procs, 6380) == THEIRS
    assert session_dir_of_gcs(procs, 7000) is None


def test_cluster_processes_are_the_session_and_its_descendants_only(fake_proc):
    ours = sorted(p.pid for p in cluster_processes(list_processes(fake_proc), OURS))
    assert ours == [10, 11, 12, 13, 14]  # not the other session (20, 21), not the user's tail (30)


def test_a_reused_pid_or_a_zombie_is_not_running(fake_proc):
    _fake_proc(fake_proc, 40, 1, ["x"], start=5)
    _fake_proc(fake_proc, 41, 1, ["x"], state="Z")
    assert is_running(ProcessInfo(40, 1, 5, ()), fake_proc)
    assert not is_running(ProcessInfo(40, 1, 6, ()), fake_proc)  # same pid, another process
    assert not is_running(ProcessInfo(41, 1, 1000, ()), fake_proc)
    assert not is_running(ProcessInfo(99, 1, 1000, ()), fake_proc)


def test_stop_signals_raylet_first_and_never_a_reused_pid(fake_proc):
    sent = []
    procs = [ProcessInfo(10, 1, 1000, ("/x/gcs_server",)), ProcessInfo(11, 1, 1000, ("/x/raylet",)),
             ProcessInfo(14, 1, 999, ("python",))]  # pid 14 now belongs to another process (start differs)

    def send(pid, sig):
        sent.append((pid, sig))
        (fake_proc / str(pid) / "stat").unlink()  # the fake process exits on its first signal
    assert stop_processes(procs, grace_s=1.0, proc_root=fake_proc, send=send) == []
    assert sent == [(11, signal.SIGTERM), (10, signal.SIGTERM)]


def _sleeper(*args: str, ignore_term: bool = False) -> subprocess.Popen:
    code = "import signal, sys, time\n"
    if ignore_term:
        code += "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    code += "print('ready', flush=True)\ntime.sleep(600)\n"
    proc = subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"  # its signal disposition is set
    return proc


@pytest.fixture
def children():
    started: list[subprocess.Popen] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def test_stop_recorded_cluster_stops_its_processes_and_nothing_else(tmp_path, children):
    session = str(tmp_path / "ray" / "session_test_1")
    ours = _sleeper(f"--session-dir={session}")
    stubborn = _sleeper(f"--logs-dir={session}/logs", ignore_term=True)  # needs SIGKILL after the grace
    other = _sleeper(f"--session-dir={session}x")
    children.extend([ours, stubborn, other])
    temp_dir = tmp_path / "ray"
    temp_dir.mkdir()
    (temp_dir / ADDRESS_FILE).write_text("127.0.0.1:6399")
    record = ClusterRecord("127.0.0.1:6399", session, str(temp_dir), "2026-12-03T05:00:00+00:00", [])

    stop_recorded_cluster(record, grace_s=0.5)

    assert ours.wait(timeout=10) == -signal.SIGTERM
    assert stubborn.wait(timeout=10) == -signal.SIGKILL
    assert other.poll() is None  # another session's process keeps running
    assert not (temp_dir / ADDRESS_FILE).exists()  # it named the stopped cluster


def test_stop_recorded_cluster_keeps_an_address_file_naming_another_cluster(tmp_path):
    (tmp_path / ADDRESS_FILE).write_text("127.0.0.1:7000")
    stop_recorded_cluster(ClusterRecord("127.0.0.1:6399", None, str(tmp_path), "t", []), grace_s=0.5)
    assert (tmp_path / ADDRESS_FILE).read_text() == "127.0.0.1:7000"


def test_record_round_trip_and_removal(tmp_path):
    data_dir = tmp_path / ".maas"
    assert load_record(data_dir) is None
    record = ClusterRecord("10.0.0.1:6379", OURS, "/tmp/ray", "2026-12-03T05:00:00+00:00",
                           [ProcessInfo(10, 1, 1000, ("/x/gcs_server", "--gcs_server_port=6379"))])
    path = save_record(data_dir, record)
    assert path == record_path(data_dir) and json.loads(path.read_text())["gcs_address"] == "10.0.0.1:6379"
    assert load_record(data_dir) == record
    assert [p.name for p in data_dir.iterdir()] == [path.name]  # no temp file left behind
    remove_record(data_dir)
    assert load_record(data_dir) is None


@pytest.mark.parametrize("text", ["{not json", json.dumps({"session_dir": None})])
def test_a_broken_record_names_the_file(tmp_path, text):
    record_path(tmp_path).write_text(text)
    with pytest.raises(ConfigError, match=str(record_path(tmp_path))):
        load_record(tmp_path)


def test_this_process_is_never_a_target(tmp_path):
    me = next(p for p in list_processes() if p.pid == os.getpid())
    record = ClusterRecord("127.0.0.1:1", None, str(tmp_path), "t", [me])
    stop_recorded_cluster(record, grace_s=0.1)  # would SIGTERM the test run itself if it were a target
    assert is_running(me)


def test_ray_start_runs_with_no_signal_blocked():
    """`maas run` blocks SIGINT/SIGTERM to wait for them; the Ray daemons must not inherit that mask, or the
    SIGTERM of `maas down` would stay pending in them forever."""
    probe = [sys.executable, "-c", "import signal; print(sorted(int(s) for s in signal.pthread_sigmask(0, [])))"]
    before = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    try:
        inherited = subprocess.run(probe, capture_output=True, text=True).stdout.strip()
        unblocked = run_unblocked(probe, dict(os.environ), timeout_s=30).stdout.strip()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)
    assert inherited == str(sorted([int(signal.SIGINT), int(signal.SIGTERM)]))  # what a plain child would get
    assert unblocked == "[]"
