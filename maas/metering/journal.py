"""The usage journal: one JSON line per metered request, appended before the response is returned.

Format: files ``<data_dir>/journal/<writer>-<seq>.active`` (the segment a live writer appends to) and
``<writer>-<seq>.jsonl`` (closed by ``rotate``), each line one ``UsageRecord`` as a JSON object ending in ``\\n``.

Durability:
    1. ``append`` encodes the record and hands the whole line to one ``os.write`` on an ``O_APPEND`` descriptor:
       when it returns, the line is in the kernel's page cache and survives the process dying (kill -9, OOM).
    2. A background flusher (``start_flusher``) fsyncs the segment every ``fsync_interval_s`` if anything was
       written, so a power loss costs at most that interval. ``sync()`` does it at once.
    3. A writer holds an exclusive ``flock`` on its active segment; the kernel drops it when the process dies,
       so an ingester can tell an orphaned ``.active`` segment (ingest it) from a live one (leave it).
    4. A line cut short by a crash mid-write has no final newline (or does not parse): readers skip it.
Ingestion into the database (batched, idempotent by ``request_id``, segments removed only after commit) is in
``maas.metering.usage_ingest``.
"""

from __future__ import annotations

import fcntl
import os
import re
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, fields
from pathlib import Path

import orjson

from maas.metering.limits_types import day_key

__all__ = ["UsageRecord", "Journal", "read_segment", "SegmentLines", "ACTIVE", "CLOSED"]

ACTIVE, CLOSED, CREATING = ".active", ".jsonl", ".creating"
_SEGMENT = re.compile(r"^(?P<writer>.+)-(?P<seq>\d{8})\.(active|jsonl)$")


@dataclass(frozen=True, slots=True)
class UsageRecord:
    """One metered request (admitted or refused). Times in seconds since the epoch (UTC)."""

    request_id: str
    time_s: float
    tenant: str
    model: str
    status: int
    key_id: str | None = None
    version: str | None = None
    tier: str | None = None
    site: str | None = None
    reason: str | None = None  # why it was refused or failed (rate_limit, quota, ..., no_feasible_tier)
    latency_ms: float | None = None
    uplink_ms: float | None = None
    queue_ms: float | None = None
    compute_ms: float | None = None
    downlink_ms: float | None = None
    platform_ms: float | None = None
    energy_j: float = 0.0
    carbon_g: float = 0.0
    deadline_met: bool | None = None
    bytes_in: int = 0
    bytes_out: int = 0

    def to_line(self) -> bytes:
        # a flat dict by hand: ``asdict`` deep-copies every field, which cost more than the write on the hot path
        return orjson.dumps({name: getattr(self, name) for name in _FIELD_NAMES}) + b"\n"

    @classmethod
    def from_dict(cls, values: dict) -> UsageRecord:
        """From a parsed journal line; a value of the wrong type raises ``ValueError`` (the line is corrupt)."""
        out = {}
        for name, value in values.items():
            kind = _FIELD_KINDS.get(name)
            if kind is None or value is None:
                if kind is not None:
                    out[name] = value
                continue
            if kind is bool and not isinstance(value, bool):
                raise ValueError(f"{name}: {value!r} is not a boolean")
            if kind in (int, float) and (isinstance(value, bool) or not isinstance(value, int | float)):
                raise ValueError(f"{name}: {value!r} is not a number")
            if kind is str and not isinstance(value, str):
                raise ValueError(f"{name}: {value!r} is not a string")
            out[name] = kind(value)
        for name in ("request_id", "tenant", "model", "status", "time_s"):
            if out.get(name) is None:
                raise ValueError(f"{name} is missing")
        return cls(**out)

    def row(self) -> dict:
        """The database row (``usage_records``): the fields plus the UTC ``day`` and ``month`` keys."""
        out = {name: getattr(self, name) for name in _FIELD_NAMES}  # not ``asdict``: it deep-copies every field
        day = day_key(self.time_s)
        out["day"], out["month"] = day, day[:7]
        for name in ("energy_j", "carbon_g", "bytes_in", "bytes_out"):  # NaN is journalled as null
            out[name] = out[name] or 0
        return out


_FIELD_NAMES = tuple(f.name for f in fields(UsageRecord))
_FIELD_KINDS = {
    f.name: next(k for k in (bool, int, float, str) if k.__name__ in str(f.type)) for f in fields(UsageRecord)
}


@dataclass
class SegmentLines:
    records: list[UsageRecord]
    torn: int = 0  # a last line without its newline (the writer died mid-write)
    corrupt: int = 0  # complete lines that do not parse (never written by this code; counted, skipped)


def read_segment(path: Path) -> SegmentLines:
    """Every complete record of a segment; a torn last line and unparsable lines are skipped and counted."""
    data = path.read_bytes()
    lines = data.split(b"\n")
    out = SegmentLines(records=[])
    if lines and lines[-1]:
        out.torn = 1
    for line in lines[:-1]:
        if not line:
            continue
        try:
            out.records.append(UsageRecord.from_dict(orjson.loads(line)))
        except (orjson.JSONDecodeError, TypeError, ValueError):
            out.corrupt += 1
    return out


def segment_files(directory: Path) -> Iterator[Path]:
    """Active and closed segments under ``directory``, oldest sequence first per writer."""
    if not directory.is_dir():
        return iter(())
    found = [p for p in directory.iterdir() if _SEGMENT.match(p.name)]
    return iter(sorted(found, key=lambda p: (_SEGMENT.match(p.name)["writer"], _SEGMENT.match(p.name)["seq"])))


class Journal:
    """The append-only journal of one writer (one gateway replica process). ``append`` is thread-safe."""

    def __init__(self, directory: Path, writer: str | None = None, *, fsync_interval_s: float = 0.2) -> None:
        if not (0 < fsync_interval_s <= 60):
            raise ValueError("fsync_interval_s must be in (0, 60]")
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        raw = writer or f"{socket.gethostname()}.{os.getpid()}"
        self.writer = re.sub(r"[^A-Za-z0-9_.]", "_", raw)
        self.fsync_interval_s = fsync_interval_s
        self._lock = threading.Lock()
        self._seq = self._last_seq()
        self._fd: int | None = None
        self._path: Path | None = None
        self._written = 0  # bytes in the current segment
        self._dirty = False
        self.fsyncs = 0
        self._stop = threading.Event()
        self._flusher: threading.Thread | None = None
        self._open_segment()

    def _last_seq(self) -> int:
        """The highest sequence this writer name used (a restarted writer of the same name continues after it)."""
        prefix = f"{self.writer}-"
        seqs = [0]
        for p in self.directory.iterdir():
            rest = p.name[len(prefix) :] if p.name.startswith(prefix) else ""
            if rest[:8].isdigit() and rest[8:] in (ACTIVE, CLOSED, CREATING):
                seqs.append(int(rest[:8]))
        return max(seqs)

    def _open_segment(self, sync_dir: bool = True) -> None:
        """Create the next segment locked, then publish it as ``.active`` (an ingester never sees it unlocked)."""
        self._seq += 1
        stem = f"{self.writer}-{self._seq:08d}"
        creating = self.directory / (stem + CREATING)
        fd = os.open(creating, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL, 0o644)
        fcntl.flock(fd, fcntl.LOCK_EX)
        path = self.directory / (stem + ACTIVE)
        os.rename(creating, path)
        if sync_dir:
            _fsync_dir(self.directory)
        self._fd, self._path, self._written, self._dirty = fd, path, 0, False

    @property
    def path(self) -> Path | None:
        """The active segment."""
        return self._path

    def append(self, record: UsageRecord) -> None:
        """Write one record as one line with one ``os.write``; when this returns the line survives a crash."""
        line = record.to_line()
        with self._lock:
            if self._fd is None:
                raise RuntimeError("journal is closed")
            view = memoryview(line)
            while view:  # a regular file takes the whole line in one call; a short write finishes the line
                n = os.write(self._fd, view)
                view = view[n:]
            self._written += len(line)
            self._dirty = True

    def sync(self) -> None:
        """fsync the active segment now if anything was written since the last fsync. The fsync runs on a
        duplicate of the descriptor outside the lock, so appends (the request path) never wait for the disk."""
        with self._lock:
            if self._fd is None or not self._dirty:
                return
            fd = os.dup(self._fd)
            self._dirty = False
        try:
            os.fsync(fd)
            self.fsyncs += 1
        finally:
            os.close(fd)

    def rotate(self) -> Path | None:
        """Close the active segment (fsynced, renamed ``.jsonl``) and open the next; returns the closed one,
        or None when the active segment is empty (nothing to close)."""
        with self._lock:  # only the swap to a fresh segment holds the lock; the disk work runs after it
            if self._fd is None or self._written == 0:
                return None
            old_fd, old_path = self._fd, self._path
            self._open_segment(sync_dir=False)
        assert old_path is not None
        try:
            os.fsync(old_fd)
            closed = old_path.with_suffix(CLOSED)
            os.rename(old_path, closed)
            _fsync_dir(self.directory)  # the new segment's name and the closed one's, in one fsync
        finally:
            os.close(old_fd)  # releases the flock: an ingester may take it now
        return closed

    def _close_locked(self) -> Path | None:
        assert self._fd is not None and self._path is not None
        os.fsync(self._fd)
        self._dirty = False
        if self._written == 0:
            os.unlink(self._path)
            closed = None
        else:
            closed = self._path.with_suffix(CLOSED)
            os.rename(self._path, closed)
        _fsync_dir(self.directory)
        os.close(self._fd)  # releases the flock
        self._fd, self._path = None, None
        return closed

    def start_flusher(self) -> None:
        """Start the background thread that fsyncs every ``fsync_interval_s`` (idempotent)."""
        if self._flusher is None:
            self._flusher = threading.Thread(target=self._flush_loop, name=f"journal-fsync-{self.writer}", daemon=True)
            self._flusher.start()

    def _flush_loop(self) -> None:
        while not self._stop.wait(self.fsync_interval_s):
            self.sync()

    def close(self) -> Path | None:
        """Stop the flusher, fsync and close the active segment (renamed ``.jsonl``; removed when empty)."""
        self._stop.set()
        if self._flusher is not None:
            self._flusher.join()
            self._flusher = None
        with self._lock:
            return None if self._fd is None else self._close_locked()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
