"""Journal -> database: batched, off the hot path, idempotent by ``request_id``.

``ingest(engine, journal_dir)`` takes every segment no live writer holds (closed ``.jsonl`` segments and
``.active`` ones orphaned by a dead process), inserts its records in batches with insert-or-ignore (SQLite
``INSERT OR IGNORE``, PostgreSQL ``ON CONFLICT DO NOTHING`` on ``request_id``), commits, and only then removes the
segment. A crash or a ``StoreUnavailable`` at any point leaves the segment in place; the next run inserts what is
missing and ignores what is there, so nothing is lost and nothing is billed twice.

Lifecycle in a gateway replica:
    1. at start: ``ingest(engine, dir)`` (replays what a previous process left), then the limit authority loads
       ``period_usage`` (``maas.metering.usage``);
    2. ``UsageIngester(engine, journal).start()``: every ``interval_s`` it rotates the journal and ingests;
    3. at stop: ``stop()`` closes the journal and ingests its last segment.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, insert
from sqlalchemy.dialects import postgresql, sqlite

from maas.errors import StoreUnavailable
from maas.metering.journal import CREATING, Journal, UsageRecord, read_segment, segment_files
from maas.metering.usage_tables import UsageRow
from maas.store import session_scope

__all__ = ["IngestStats", "ingest", "insert_records", "UsageIngester"]

log = logging.getLogger(__name__)


@dataclass
class IngestStats:
    segments: int = 0
    records: int = 0
    inserted: int = 0
    duplicates: int = 0
    torn: int = 0
    corrupt: int = 0
    skipped_live: int = 0


def _insert_ignore(engine: Engine):
    table = UsageRow.__table__
    if engine.dialect.name == "sqlite":
        return sqlite.insert(table).on_conflict_do_nothing(index_elements=["request_id"])
    if engine.dialect.name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing(index_elements=["request_id"])
    return insert(table)  # other backends: duplicates raise (not supported here)


def insert_records(engine: Engine, records: list[UsageRecord], *, batch_size: int = 1000) -> int:
    """Insert-or-ignore ``records`` in one transaction; returns how many were new."""
    if engine.dialect.name == "sqlite":
        return _insert_sqlite(engine, records, batch_size)
    statement = _insert_ignore(engine).returning(UsageRow.__table__.c.request_id)
    inserted = 0
    with session_scope(engine) as session:
        for i in range(0, len(records), batch_size):
            rows = [_fit(r.row()) for r in records[i : i + batch_size]]
            inserted += len(session.execute(statement, rows).all())  # RETURNING lists only the new rows
    return inserted


_COLUMNS = [c.name for c in UsageRow.__table__.columns if c.name != "id"]
_SQLITE_INSERT = (f"INSERT OR IGNORE INTO {UsageRow.__tablename__} ({', '.join(_COLUMNS)}) "
                  f"VALUES ({', '.join(':' + c for c in _COLUMNS)})")


def _insert_sqlite(engine: Engine, records: list[UsageRecord], batch_size: int) -> int:
    """SQLite: the driver's ``executemany`` of one prepared ``INSERT OR IGNORE`` (the ingester runs in the
    gateway's process, and SQLAlchemy's per-row statement building cost ~3x the insert itself); the driver's
    row count sums the rows actually inserted."""
    inserted = 0
    with session_scope(engine) as session:
        connection = session.connection()
        for i in range(0, len(records), batch_size):
            rows = [_fit(r.row()) for r in records[i : i + batch_size]]
            inserted += max(0, connection.exec_driver_sql(_SQLITE_INSERT, rows).rowcount)
    return inserted


_LENGTHS = {c.name: c.type.length for c in UsageRow.__table__.columns if getattr(c.type, "length", None)}


def _fit(row: dict) -> dict:
    """Cut strings to their column's length (PostgreSQL refuses longer ones; a segment must never get stuck)."""
    for name, length in _LENGTHS.items():
        value = row.get(name)
        if isinstance(value, str) and len(value) > length:
            row[name] = value[:length]
    return row


def _try_lock(path: Path) -> int | None:
    """An fd holding an exclusive lock on ``path``, or None when a live writer (or another ingester) has it."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def ingest(engine: Engine, journal_dir: Path, *, batch_size: int = 1000) -> IngestStats:
    """Ingest every segment under ``journal_dir`` that no live process holds; remove each after its commit.
    Raises ``StoreUnavailable`` (the failing segment and the rest stay for the next run)."""
    journal_dir = Path(journal_dir)
    stats = IngestStats()
    for path in segment_files(journal_dir):
        fd = _try_lock(path)
        if fd is None:
            stats.skipped_live += 1
            continue
        try:
            if not path.exists():  # ingested and removed by someone else between listing and locking
                continue
            lines = read_segment(path)
            inserted = insert_records(engine, lines.records, batch_size=batch_size) if lines.records else 0
            stats.segments += 1
            stats.records += len(lines.records)
            stats.inserted += inserted
            stats.duplicates += len(lines.records) - inserted
            stats.torn += lines.torn
            stats.corrupt += lines.corrupt
            if lines.torn or lines.corrupt:
                log.warning("journal %s: skipped %d torn and %d corrupt lines", path, lines.torn, lines.corrupt)
            path.unlink(missing_ok=True)  # only after the commit above
        finally:
            os.close(fd)
    for stale in journal_dir.glob(f"*{CREATING}") if journal_dir.is_dir() else ():
        fd = _try_lock(stale)  # a writer died between creating and publishing a segment: it holds nothing
        if fd is not None:
            try:
                if stale.stat().st_size == 0:
                    stale.unlink(missing_ok=True)
            finally:
                os.close(fd)
    return stats


class UsageIngester:
    """Background thread: rotate ``journal`` and ingest every ``interval_s``; keeps going when the database is
    unavailable (segments wait). ``stop()`` closes the journal and ingests the last segment."""

    def __init__(self, engine: Engine, journal: Journal, *, interval_s: float = 2.0, batch_size: int = 1000) -> None:
        if not (0 < interval_s <= 3600):
            raise ValueError("interval_s must be in (0, 3600]")
        self.engine, self.journal = engine, journal
        self.interval_s, self.batch_size = interval_s, batch_size
        self.totals = IngestStats()
        self.runs = 0
        self.last_error: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> IngestStats:
        self.journal.rotate()
        try:
            stats = ingest(self.engine, self.journal.directory, batch_size=self.batch_size)
        except StoreUnavailable as exc:
            self.last_error = exc.message
            log.warning("usage ingestion postponed: %s", exc.message)
            return IngestStats()
        finally:
            self.runs += 1
        self.last_error = None
        for name in vars(stats):
            setattr(self.totals, name, getattr(self.totals, name) + getattr(stats, name))
        return stats

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="usage-ingest", daemon=True)
            self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.run_once()

    def stop(self) -> IngestStats:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self.journal.close()
        try:
            return ingest(self.engine, self.journal.directory, batch_size=self.batch_size)
        except StoreUnavailable as exc:
            log.warning("usage ingestion at stop postponed to the next start: %s", exc.message)
            return IngestStats()
