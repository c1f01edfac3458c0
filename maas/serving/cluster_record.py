"""What ``maas up`` started, so ``maas down`` stops exactly that (a JSON record in the data dir), and which
cluster the platform commands use (``choose_cluster_for``: the record, MAAS_RAY_ADDRESS, Ray's address file).

``<data_dir>/ray-cluster.json`` holds the GCS address, the session dir and the processes (pid + start time) of
the local Ray head that ``maas up``/``maas run`` started. A cluster the platform only joined (``MAAS_RAY_ADDRESS``,
or one started with ``ray start`` by someone else) is never recorded, so it is never stopped. No ray import.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from maas.errors import ConfigError, NotReady
from maas.serving.ray_address import ADDRESS_FILE, ClusterChoice, choose_cluster, ray_temp_dir, read_address_file
from maas.serving.ray_processes import ProcessInfo, cluster_processes, list_processes, stop_processes
from maas.settings import Settings

__all__ = [
    "RECORD_FILE",
    "ClusterRecord",
    "record_path",
    "save_record",
    "load_record",
    "remove_record",
    "stop_recorded_cluster",
    "choose_cluster_for",
]

RECORD_FILE = "ray-cluster.json"
STOP_GRACE_S = 16.0  # as `ray stop`'s default grace period


@dataclass
class ClusterRecord:
    gcs_address: str
    session_dir: str | None
    ray_temp_dir: str
    started_at: str  # ISO-8601 UTC
    processes: list[ProcessInfo] = field(default_factory=list)


def record_path(data_dir: Path) -> Path:
    return Path(data_dir) / RECORD_FILE


def save_record(data_dir: Path, record: ClusterRecord) -> Path:
    """Write the record atomically (a temp file, then ``os.replace``); returns its path."""
    path = record_path(data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".ray-cluster-", suffix=".json", dir=str(path.parent))
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(asdict(record), fh, indent=2)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def load_record(data_dir: Path) -> ClusterRecord | None:
    """The record, or None when ``maas up`` started nothing (or ``maas down`` already stopped it)."""
    path = record_path(data_dir)
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise ConfigError(str(path), "<file>", f"cannot be read: {exc} (delete it if no maas cluster runs)") from None
    try:
        procs = [ProcessInfo(int(p["pid"]), int(p["ppid"]), int(p["start_ticks"]), tuple(p["argv"]))
                 for p in raw.get("processes", [])]
        return ClusterRecord(str(raw["gcs_address"]), raw.get("session_dir"), str(raw["ray_temp_dir"]),
                             str(raw["started_at"]), procs)
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(str(path), str(exc), "is missing or malformed (delete the file if no maas cluster runs)") from None


def remove_record(data_dir: Path) -> None:
    record_path(data_dir).unlink(missing_ok=True)


def stop_recorded_cluster(record: ClusterRecord, grace_s: float = STOP_GRACE_S) -> None:
    """Stop the recorded processes still running and every process of the recorded session (with descendants);
    drop Ray's address file if it still names this cluster, so nothing tries to join the dead address."""
    targets = {p.pid: p for p in record.processes}
    if record.session_dir:
        targets.update({p.pid: p for p in cluster_processes(list_processes(), record.session_dir)})
    targets.pop(os.getpid(), None)  # never this process (a driver is no member, but be sure)
    left = stop_processes(list(targets.values()), grace_s=grace_s)
    if left:
        raise NotReady(f"Ray processes of {record.gcs_address} did not exit: {', '.join(str(p.pid) for p in left)}")
    temp_dir = Path(record.ray_temp_dir)
    if read_address_file(temp_dir) == record.gcs_address:
        (temp_dir / ADDRESS_FILE).unlink(missing_ok=True)


def choose_cluster_for(settings: Settings, progress: Callable[[str], None] = lambda _msg: None) -> ClusterChoice:
    """The cluster the platform commands use (``choose_cluster``: MAAS_RAY_ADDRESS, the one ``maas up`` recorded,
    the last ``ray start``), each stale address found reported through ``progress``. No ray import: the CLI calls
    this before loading the Ray layer, so a stale address is reported within the probe timeouts."""
    record = load_record(settings.data_dir)
    choice = choose_cluster(
        settings.ray_address,
        recorded=record.gcs_address if record else None,
        temp_dir=ray_temp_dir(),
        timeout_s=settings.ray_probe_timeout_s,
    )
    for found in choice.found:
        progress(f"found {found}")
    return choice
