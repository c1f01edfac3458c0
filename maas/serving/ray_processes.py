"""The processes of one Ray cluster on this host, found and stopped without touching any other Ray.

``ray stop --force`` kills every Ray process on the host (a user's own cluster too). Every daemon a head node
starts (gcs_server, raylet, dashboard, agents, log monitor, monitor) carries its session dir in its command line
(``--session-dir=``/``--session_dir=``/``--logs-dir=<session>/logs``); workers, actors and what they start (e.g.
Serve's HAProxy) are their descendants. So a cluster's processes are: those naming its session dir, plus their
descendants (``cluster_processes``). A process is identified by pid *and* start time, so a reused pid is never
signalled. Linux only (``/proc``); no ray import.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from maas.polling import PollTimeout, poll_until

__all__ = [
    "ProcessInfo",
    "list_processes",
    "session_dir_of_gcs",
    "cluster_processes",
    "is_running",
    "stop_processes",
    "run_unblocked",
]

PROC = Path("/proc")
_SESSION_FLAGS = ("--session-dir=", "--session_dir=")


@dataclass(frozen=True)
class ProcessInfo:
    pid: int
    ppid: int
    start_ticks: int  # /proc/<pid>/stat field 22: with the pid, names the process even after the pid is reused
    argv: tuple[str, ...]

    @property
    def name(self) -> str:
        return Path(self.argv[0]).name if self.argv else str(self.pid)


def _stat(pid: int, proc_root: Path) -> tuple[str, int, int] | None:
    """(state, ppid, start_ticks) of a pid, or None when it is gone."""
    try:
        text = (proc_root / str(pid) / "stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()  # after "pid (comm) ": state is field 3, starttime field 22
    return fields[0], int(fields[1]), int(fields[19])


def list_processes(proc_root: Path = PROC) -> list[ProcessInfo]:
    """Every process this user can see, with its command line (empty for kernel threads)."""
    out = []
    for entry in proc_root.iterdir():
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        stat = _stat(pid, proc_root)
        if stat is None:
            continue
        try:
            raw = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        argv = tuple(a.decode(errors="replace") for a in raw.split(b"\0") if a)
        out.append(ProcessInfo(pid, stat[1], stat[2], argv))
    return out


def _session_arg(argv: Iterable[str]) -> str | None:
    for arg in argv:
        for flag in _SESSION_FLAGS:
            if arg.startswith(flag):
                return arg[len(flag):]
    return None


def session_dir_of_gcs(processes: Iterable[ProcessInfo], gcs_port: int) -> str | None:
    """The session dir of the cluster whose GCS listens on ``gcs_port`` (from its gcs_server's command line)."""
    port_flag = f"--gcs_server_port={gcs_port}"
    for proc in processes:
        if port_flag in proc.argv:
            return _session_arg(proc.argv)
    return None


def _names_session(argv: Iterable[str], session_dir: str) -> bool:
    """A ``--flag=<session_dir>[/...]`` argument (Ray's daemons' form; a user's ``tail <session>/logs/x`` is not)."""
    for arg in argv:
        if arg.startswith("--") and "=" in arg:
            value = arg.split("=", 1)[1]
            if value == session_dir or value.startswith(session_dir + "/"):
                return True
    return False


def cluster_processes(processes: list[ProcessInfo], session_dir: str) -> list[ProcessInfo]:
    """The processes naming ``session_dir`` in their command line, and all their descendants."""
    members = {p.pid for p in processes if _names_session(p.argv, session_dir)}
    children: dict[int, list[int]] = {}
    for p in processes:
        children.setdefault(p.ppid, []).append(p.pid)
    stack = list(members)
    while stack:
        for child in children.get(stack.pop(), []):
            if child not in members:
                members.add(child)
                stack.append(child)
    return [p for p in processes if p.pid in members]


def is_running(proc: ProcessInfo, proc_root: Path = PROC) -> bool:
    """The same process (pid and start time) still exists and is not a zombie."""
    stat = _stat(proc.pid, proc_root)
    return stat is not None and stat[2] == proc.start_ticks and stat[0] not in ("Z", "X")


def stop_processes(
    processes: list[ProcessInfo],
    *,
    grace_s: float,
    proc_root: Path = PROC,
    send: Callable[[int, int], None] = os.kill,
) -> list[ProcessInfo]:
    """SIGTERM each (raylets first, as ``ray stop`` does, so agents do not outlive them), wait up to ``grace_s``,
    SIGKILL what is left; return the processes still running after that (normally none)."""
    ordered = sorted(processes, key=lambda p: p.name != "raylet")

    def signal_all(sig: int) -> None:
        for proc in ordered:
            if is_running(proc, proc_root):
                try:
                    send(proc.pid, sig)
                except ProcessLookupError:
                    pass

    def running() -> list[ProcessInfo]:
        return [p for p in ordered if is_running(p, proc_root)]

    for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5.0)):
        signal_all(sig)
        try:
            poll_until(lambda: not running(), timeout_s=wait_s, what="Ray processes to exit", interval_s=0.1)
            return []
        except PollTimeout:
            continue
    return running()


def run_unblocked(cmd: Sequence[str], env: dict[str, str], timeout_s: float) -> subprocess.CompletedProcess:
    """Run ``cmd`` with no signal blocked in it. A signal mask is inherited by children and kept across exec:
    ``maas run`` blocks SIGINT/SIGTERM to wait for them, and the Ray daemons ``ray start`` leaves behind would
    otherwise ignore the SIGTERM ``maas down`` sends them for good."""
    return subprocess.run(
        list(cmd), env=env, capture_output=True, text=True, timeout=timeout_s,
        preexec_fn=lambda: signal.pthread_sigmask(signal.SIG_SETMASK, []),
    )
