"""The usage journal: one write per record, torn lines, idempotent replay, a real SIGKILL, a locked database."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from sqlalchemy import func, select

from maas.errors import StoreUnavailable
from maas.metering.journal import Journal, UsageRecord, read_segment
from maas.metering.usage_ingest import UsageIngester, ingest
from maas.metering.usage_tables import UsageRow
from maas.polling import poll_until
from maas.store import make_engine, migrate, session_scope
from tests.support.databases import database_url, db_engine, postgres_base_url  # noqa: F401

T0_S = 1_795_000_000.0  # 2026-11-18


def record(i: int, tenant: str = "acme", **kw) -> UsageRecord:
    values = dict(
        request_id=f"req-{i:06d}",
        time_s=T0_S + i,
        tenant=tenant,
        model="mobilenet",
        status=200,
        key_id="k1",
        tier="ground",
        latency_ms=10.0 + i,
        energy_j=0.5,
        carbon_g=0.001,
        bytes_in=100,
        bytes_out=20,
    )
    values.update(kw)
    return UsageRecord(**values)


def stored_ids(engine) -> list[str]:
    with session_scope(engine, write=False) as s:
        return list(s.scalars(select(UsageRow.request_id).order_by(UsageRow.request_id)))


def test_one_write_per_record_and_round_trip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    journal = Journal(tmp_path / "journal", "gw-1")
    writes: list[int] = []
    real_write = os.write
    monkeypatch.setattr(os, "write", lambda fd, data: writes.append(len(data)) or real_write(fd, data))
    records = [record(i, deadline_met=i % 2 == 0) for i in range(5)]
    for r in records:
        journal.append(r)
    monkeypatch.undo()
    assert writes == [len(r.to_line()) for r in records]
    assert journal.path is not None and journal.path.name == "gw_1-00000001.active"  # "-" separates the sequence
    assert read_segment(journal.path).records == records
    closed = journal.close()
    assert closed is not None and closed.name == "gw_1-00000001.jsonl"
    assert Journal(tmp_path / "journal", "gw-1").path.name == "gw_1-00000002.active"  # a restart continues


def test_torn_last_line_is_skipped(tmp_path: Path) -> None:
    journal = Journal(tmp_path, "gw")
    for i in range(3):
        journal.append(record(i))
    path = journal.path
    journal.close()
    closed = path.with_suffix(".jsonl")
    with open(closed, "ab") as f:
        f.write(record(3).to_line()[:-9])  # the writer died inside the line
    lines = read_segment(closed)
    assert [r.request_id for r in lines.records] == ["req-000000", "req-000001", "req-000002"]
    assert (lines.torn, lines.corrupt) == (1, 0)


def test_flusher_fsyncs_within_its_interval(tmp_path: Path) -> None:
    journal = Journal(tmp_path, "gw", fsync_interval_s=0.01)
    journal.start_flusher()
    journal.append(record(1))
    poll_until(lambda: journal.fsyncs >= 1, timeout_s=10, what="the flusher's fsync", interval_s=0.005)
    count = journal.fsyncs
    journal.sync()  # nothing new written: no extra fsync
    assert journal.fsyncs == count
    journal.close()


def test_replay_is_idempotent(db_engine, tmp_path: Path) -> None:  # noqa: F811
    directory = tmp_path / "journal"
    with Journal(directory, "gw") as journal:
        for i in range(50):
            journal.append(record(i))
    segment = next(directory.glob("*.jsonl"))
    backup = tmp_path / "copy.jsonl"
    shutil.copy(segment, backup)
    first = ingest(db_engine, directory, batch_size=7)
    assert (first.records, first.inserted, first.duplicates) == (50, 50, 0)
    assert not segment.exists()  # removed after the commit
    shutil.copy(backup, segment)  # as if the process died after the commit, before removing the segment
    second = ingest(db_engine, directory)
    assert (second.records, second.inserted, second.duplicates) == (50, 0, 50)
    assert stored_ids(db_engine) == [f"req-{i:06d}" for i in range(50)]


def test_live_segment_is_left_alone_then_ingested_on_rotation(db_engine, tmp_path: Path) -> None:  # noqa: F811
    directory = tmp_path / "journal"
    journal = Journal(directory, "gw")
    journal.append(record(1))
    stats = ingest(db_engine, directory)
    assert (stats.skipped_live, stats.records) == (1, 0)
    ingester = UsageIngester(db_engine, journal)
    assert ingester.run_once().inserted == 1
    journal.append(record(2))
    assert ingester.stop().inserted == 1
    assert stored_ids(db_engine) == ["req-000001", "req-000002"]
    assert list(directory.iterdir()) == []


CHILD = textwrap.dedent(
    """
    import sys
    from maas.metering.journal import Journal, UsageRecord
    journal = Journal(sys.argv[1], "victim")
    i = 0
    while True:
        journal.append(UsageRecord(request_id=f"req-{i:08d}", time_s=1.795e9 + i, tenant="acme", model="m",
                                   status=200, energy_j=0.25, site="x" * (i % 700)))
        sys.stdout.write(f"{i}\\n")  # printed only after the write returned
        sys.stdout.flush()
        i += 1
    """
)


def test_sigkill_loses_no_returned_write_and_bills_none_twice(db_engine, tmp_path: Path) -> None:  # noqa: F811
    directory = tmp_path / "journal"
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(directory)],
        stdout=subprocess.PIPE,
        cwd=Path(__file__).resolve().parents[2],
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )
    acknowledged = -1
    assert child.stdout is not None
    while acknowledged < 2000:  # reading the pipe, not sleeping: the child writes as fast as it can
        line = child.stdout.readline()
        assert line, "child died early"
        acknowledged = int(line)
    os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL
    assert [p.suffix for p in directory.iterdir()] == [".active"]  # orphaned, its flock gone with the process
    stats = ingest(db_engine, directory)
    assert stats.skipped_live == 0 and stats.corrupt == 0
    ids = stored_ids(db_engine)
    assert len(ids) == len(set(ids)) == stats.inserted
    assert ids == [f"req-{i:08d}" for i in range(len(ids))]  # a prefix: nothing in the middle lost
    assert len(ids) > acknowledged  # every write that returned (and was acknowledged) is there
    assert list(directory.iterdir()) == []
    again = ingest(db_engine, directory)
    assert again.records == 0 and len(stored_ids(db_engine)) == len(ids)


def test_locked_database_raises_store_unavailable_and_bills_nothing_twice(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'maas.db'}"
    setup = make_engine(url)
    migrate(setup)
    engine = make_engine(url, busy_timeout_ms=50)
    directory = tmp_path / "journal"
    journal = Journal(directory, "gw")
    for i in range(10):
        journal.append(record(i))
    journal.rotate()
    assert ingest(engine, directory).inserted == 10
    for i in range(10, 25):
        journal.append(record(i))
    journal.close()
    blocker = sqlite3.connect(tmp_path / "maas.db", isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # another writer holds the lock
    with pytest.raises(StoreUnavailable):
        ingest(engine, directory)
    assert len(list(directory.glob("*.jsonl"))) == 1  # the segment waits for the next run
    ingester = UsageIngester(engine, Journal(directory, "gw"))
    assert ingester.run_once().inserted == 0 and ingester.last_error is not None
    blocker.execute("ROLLBACK")
    blocker.close()
    assert ingester.run_once().inserted == 15 and ingester.last_error is None
    ingester.stop()
    with session_scope(engine, write=False) as s:
        assert s.scalar(select(func.count()).select_from(UsageRow)) == 25
        assert s.scalar(select(func.sum(UsageRow.energy_j))) == pytest.approx(25 * 0.5)
    setup.dispose()
    engine.dispose()
