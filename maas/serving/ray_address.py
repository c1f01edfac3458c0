"""Which Ray cluster the platform commands talk to, decided before Ray is touched.

``ray.init(address="auto")`` trusts the ``ray_current_cluster`` file in Ray's temp dir; when that file names a GCS
that died (a crash, a reboot, a killed container), it keeps retrying for a minute or more. So ``maas up``, ``run``,
``status`` and ``down`` first ask each candidate address whether anything accepts a TCP connection on its GCS port
(``gcs_answers``, bounded by ``Settings.ray_probe_timeout_s``), in this order (``choose_cluster``):

1. ``MAAS_RAY_ADDRESS`` (``Settings.ray_address``), when set: it must answer, or the command fails (``NotReady``,
   exit code 1) naming the address; nothing else is tried.
2. The cluster ``maas up`` started and recorded (``maas.serving.cluster_record``): ours to use and to stop.
3. The address in ``ray_current_cluster`` (the last ``ray start`` on this host): joined, never stopped by us.
4. Nothing answers: ``maas up`` starts a fresh local cluster; ``status`` says the platform is not running.
Dead addresses found on the way are reported (``ClusterChoice.found``), so the user learns what was stale.
This module does not import ray.
"""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from maas.errors import ConfigError, NotReady

__all__ = [
    "ADDRESS_FILE",
    "ClusterChoice",
    "choose_cluster",
    "free_local_port",
    "gcs_answers",
    "gcs_host_port",
    "local_port_free",
    "ray_temp_dir",
    "read_address_file",
]

ADDRESS_FILE = "ray_current_cluster"
_DEFAULT_WORDS = ("", "auto")


def ray_temp_dir(environ: dict[str, str] | None = None) -> Path:
    """Ray's temp dir as ``ray start`` picks it: ``$RAY_TMPDIR``, else ``$TMPDIR`` on Linux, else /tmp; plus ``ray``."""
    env = os.environ if environ is None else environ
    if env.get("RAY_TMPDIR"):
        base = env["RAY_TMPDIR"]
    elif sys.platform.startswith("linux") and env.get("TMPDIR"):
        base = env["TMPDIR"]
    else:
        base = "/tmp"
    return Path(base) / "ray"


def read_address_file(temp_dir: Path) -> str | None:
    """The GCS address the last ``ray start`` on this host wrote, or None."""
    try:
        text = (temp_dir / ADDRESS_FILE).read_text().strip()
    except OSError:
        return None
    return text or None


def gcs_host_port(address: str) -> tuple[str, int]:
    """``host:port`` (also ``ray://host:port`` and ``[v6]:port``) -> (host, port); ConfigError when malformed."""
    rest = address.split("://", 1)[1] if "://" in address else address
    host, sep, port = rest.rstrip("/").rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError("MAAS_RAY_ADDRESS", "ray_address", f"{address!r} is not host:port", "e.g. 10.0.0.5:6379")
    return host, int(port)


def gcs_answers(address: str, timeout_s: float) -> bool:
    """True when something accepts a TCP connection on the address's port within ``timeout_s``."""
    host, port = gcs_host_port(address)
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:  # refused, unreachable, timed out, unknown host
        return False


def free_local_port() -> int:
    """A TCP port nothing on this host listens on now (the kernel's pick)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def local_port_free(port: int) -> bool:
    """True when nothing listens on ``port`` on this host (so ``ray start --head`` can take it)."""
    return not gcs_answers(f"127.0.0.1:{port}", 0.5)


@dataclass(frozen=True)
class ClusterChoice:
    """``address``: the GCS to connect to (None: nothing answers, start one). ``started_by_maas``: it is the
    cluster ``maas up`` recorded (so ``maas down`` may stop it). ``found``: what was stale, in plain words."""

    address: str | None
    started_by_maas: bool = False
    found: list[str] = field(default_factory=list)


def choose_cluster(
    explicit: str | None,
    *,
    recorded: str | None,
    temp_dir: Path,
    timeout_s: float,
    answers: Callable[[str, float], bool] = gcs_answers,
) -> ClusterChoice:
    """Pick the cluster to use (order in the module docstring). Raises NotReady for a dead explicit address."""
    if explicit is not None and explicit.strip() not in _DEFAULT_WORDS:
        if not answers(explicit, timeout_s):
            raise NotReady(
                f"MAAS_RAY_ADDRESS={explicit}: no Ray GCS answers there within {timeout_s:g} s "
                "(is the head node running? `ray start --head` prints its address; unset it to use a local cluster)"
            )
        return ClusterChoice(explicit)

    def alive(address: str) -> bool:
        try:
            return answers(address, timeout_s)
        except ConfigError:  # a garbled file is as good as a dead address
            return False

    found = []
    if recorded is not None:
        if alive(recorded):
            return ClusterChoice(recorded, started_by_maas=True)
        found.append(f"the Ray cluster maas started at {recorded} is gone")
    current = read_address_file(temp_dir)
    if current is not None and current != recorded:
        if alive(current):
            return ClusterChoice(current, found=found)
        found.append(
            f"stale Ray address file {temp_dir / ADDRESS_FILE}: it names {current}, which does not answer"
        )
    return ClusterChoice(None, found=found)
