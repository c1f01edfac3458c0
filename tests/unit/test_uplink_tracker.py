"""Uplink of a model version to the satellite tier (issue 10): the bytes-over-windows arithmetic against the
tier models' predicted windows of the default topology's ground station, progress inside and between windows,
a restart resuming from the persisted bytes, sha256 on arrival (a corrupt arrival is re-sent from byte 0, then
refused), the 503 for a pinned request, the time scale, and migration 0004 against its table. Virtual clocks."""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import pytest
import sqlalchemy as sa

from maas.clock import ManualClock
from maas.errors import ConfigError
from maas.registry.artifacts import ArtifactStore
from maas.registry.tables import ModelVariant, ModelVersion, RegisteredModel
from maas.registry.uplink import ModelUplinking, UplinkTracker
from maas.registry.uplink_tables import UplinkTransfer
from maas.settings import ROOT
from maas.store import make_engine, migrate, session_scope
from maas.tiers import load_topology
from maas.tiers.uplink import GroundStationWindows

MINILM_INT8 = ROOT / "models" / "build" / "minilm-embed" / "model.int8.onnx"
MINILM_INT8_BYTES = 23_409_808  # models/build/minilm-embed/manifest.json, int8 size_bytes


@pytest.fixture(scope="module")
def topology():
    return load_topology(ROOT / "cluster" / "topology.yaml")


@pytest.fixture(scope="module")
def station_windows(topology):
    """The tier models' predicted windows of the default ground station, built once for the module."""
    sat = topology.tiers["satellite"]
    return GroundStationWindows(sat, topology.epoch_s, sat.uplink.ground_stations[0])


@pytest.fixture(scope="module")
def minilm_int8() -> bytes:
    if MINILM_INT8.is_file():
        return MINILM_INT8.read_bytes()
    return hashlib.sha256(b"minilm").digest() * (MINILM_INT8_BYTES // 32) + b"\0" * (MINILM_INT8_BYTES % 32)


def _add_version(engine, data_dir: Path, name: str, version: int, int8: bytes) -> str:
    sha, _ = ArtifactStore(data_dir / "artifacts").put(int8)
    with session_scope(engine) as s:
        model = s.scalar(sa.select(RegisteredModel).where(RegisteredModel.name == name))
        if model is None:
            model = RegisteredModel(name=name, created_at_s=0.0)
            s.add(model)
            s.flush()
        row = ModelVersion(
            model_id=model.id,
            version=version,
            state="ready",
            fp32_sha256="0" * 64,
            quantisation="built",
            agreement_inputs="built",
            manifest={},
            created_at_s=0.0,
        )
        s.add(row)
        s.flush()
        s.add(ModelVariant(version_id=row.id, variant="int8", artifact_sha256=sha, size_bytes=len(int8), agreement={}))
    return sha


@pytest.fixture
def db(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'maas.db'}")
    migrate(engine)
    yield engine, tmp_path
    engine.dispose()


def _tracker(db, topology, station_windows, clock, **kw) -> UplinkTracker:
    engine, data_dir = db
    return UplinkTracker(engine, data_dir, topology, clock, windows=lambda tier, st: station_windows.windows, **kw)


def _expected(station_windows, start_s: float, size: int, done: int = 0, rate_bps=256000.0, setup_s=20.0):
    """The schedule written out by hand: per window (send_start, send_end, bytes); and the ETA."""
    out, left = [], size - done
    for w in station_windows.windows(start_s):
        send = max(w.start_s, start_s) + setup_s
        if send >= w.end_s:
            continue
        cap = math.floor((w.end_s - send) * rate_bps / 8)
        if cap >= left:
            eta = send + left * 8 / rate_bps
            out.append((w, send, eta, left))
            return out, eta
        out.append((w, send, w.end_s, cap))
        left -= cap
    raise AssertionError("no completion within the horizon")


def test_minilm_int8_schedule_progress_and_arrival(db, topology, station_windows, minilm_int8) -> None:
    engine, data_dir = db
    size = len(minilm_int8)
    assert abs(size - 23.4e6) < 0.1e6
    sha = _add_version(engine, data_dir, "minilm-embed", 2, minilm_int8)
    t0 = topology.epoch_s + 12 * 3600 + 100.0
    clock = ManualClock(t0)
    tracker = _tracker(db, topology, station_windows, clock)
    st = tracker.start("minilm-embed", 2)
    assert (st.state, st.bytes_sent, st.bytes_total, st.sha256, st.station) == ("uplinking", 0, size, sha, "riyadh-gs")
    sched, eta = _expected(station_windows, t0, size)
    assert 3 <= len(sched) <= 4  # "a reload in a few passes": 3 whole windows, 4 when it starts mid-window
    assert st.eta_s == pytest.approx(eta, abs=1e-6)
    assert st.next_window_start_s == pytest.approx(t0) and st.next_window_end_s == pytest.approx(sched[0][0].end_s)
    # every whole window carries (duration - 20 s setup) x 256 kbit/s
    for w, _send, _end, nbytes in sched[1:-1]:
        assert nbytes == math.floor((w.end_s - w.start_s - 20.0) * 32_000)
    # inside the setup of the first window nothing flows; 100 s into sending, 3.2 MB have
    clock._now_s = t0 + 10.0
    assert tracker.status("minilm-embed", 2).bytes_sent == 0
    clock._now_s = sched[0][1] + 100.0
    assert tracker.status("minilm-embed", 2).bytes_sent == 3_200_000
    # between windows (in the next window's setup): exactly what the first window carried; the second is the
    # current window and counts as used once bytes flow in it
    clock._now_s = sched[1][0].start_s + 5.0
    st = tracker.status("minilm-embed", 2)
    assert st.bytes_sent == sched[0][3] and [u["bytes"] for u in st.windows_used] == [sched[0][3]]
    assert (st.next_window_start_s, st.next_window_end_s) == (sched[1][0].start_s, sched[1][0].end_s)
    clock._now_s = sched[1][1] + 1.0
    st = tracker.status("minilm-embed", 2)
    assert st.bytes_sent == sched[0][3] + 32_000 and len(st.windows_used) == 2
    with pytest.raises(ModelUplinking) as exc:
        tracker.require("minilm-embed", 2, "satellite")
    assert exc.value.status == 503 and exc.value.retry_after_s == pytest.approx(eta - clock.now_s())
    assert "of 23.4 MB uplinked" in exc.value.message and "expected complete at" in exc.value.message
    tracker.require("minilm-embed", 2, "ground")  # other tiers are not uplinked to
    # the uplinker writes what arrived; the satellite side holds exactly that many bytes
    tracker.advance()
    assert tracker.part_path("satellite", sha).stat().st_size == sched[0][3] + 32_000
    # the last byte: verified, ready, the arrived file is the artifact
    clock._now_s = eta - 0.001
    assert tracker.status("minilm-embed", 2).state == "uplinking"
    clock._now_s = eta
    st = tracker.status("minilm-embed", 2)
    assert (st.state, st.bytes_sent, st.completed_at_s) == ("ready", size, pytest.approx(eta))
    assert len(st.windows_used) == len(sched) and sum(u["bytes"] for u in st.windows_used) == size
    assert hashlib.sha256(tracker.arrived_path("satellite", sha).read_bytes()).hexdigest() == sha
    tracker.require("minilm-embed", 2, "satellite")
    assert tracker.serving_version("minilm-embed") == 2
    assert st.to_dict()["eta_utc"].endswith("Z")


def test_restart_resumes_from_the_persisted_bytes(db, topology, station_windows) -> None:
    engine, data_dir = db
    blob = bytes(range(256)) * 40_000  # 10.24 MB
    sha = _add_version(engine, data_dir, "m", 1, blob)
    t0 = topology.epoch_s + 3 * 3600.0
    clock = ManualClock(t0)
    first = _tracker(db, topology, station_windows, clock)
    first.start("m", 1)
    sched, _ = _expected(station_windows, t0, len(blob))
    clock._now_s = sched[0][1] + 60.0  # 60 s of sending in the first window
    first.advance()
    persisted = 60 * 32_000
    with session_scope(engine, write=False) as s:
        assert s.scalar(sa.select(UplinkTransfer.bytes_sent)) == persisted
    # the process dies; it comes back 10 minutes later: nothing was sent meanwhile
    clock._now_s += 600.0
    second = _tracker(db, topology, station_windows, clock)
    back = clock.now_s()
    (st,) = second.resume()
    assert st.bytes_sent == persisted
    sched2, eta2 = _expected(station_windows, back, len(blob), done=persisted)
    assert st.eta_s == pytest.approx(eta2, abs=1e-6)
    clock._now_s = sched2[0][1] + 10.0  # after the resumed window's setup, 10 s more
    assert second.status("m", 1).bytes_sent == persisted + 320_000
    clock._now_s = eta2
    st = second.status("m", 1)
    assert st.state == "ready" and st.completed_at_s == pytest.approx(eta2)
    assert hashlib.sha256(second.arrived_path("satellite", sha).read_bytes()).hexdigest() == sha
    # windows of both segments are listed: the first's part before the restart, then the resumed ones
    assert sum(u["bytes"] for u in st.windows_used) == len(blob)
    assert st.windows_used[0]["bytes"] == persisted  # the first window: what it carried before the restart


def test_corrupt_arrival_is_resent_from_byte_0_then_refused(db, topology, station_windows) -> None:
    engine, data_dir = db
    blob = b"x" * 1_000_000  # fits in one window (31.25 s of sending)
    sha = _add_version(engine, data_dir, "small", 1, blob)
    t0 = topology.epoch_s + 6 * 3600.0
    clock = ManualClock(t0)
    tr = _tracker(db, topology, station_windows, clock)
    tr.start("small", 1)
    for attempt in (1, 2, 3):
        st = tr.status("small", 1)
        assert (st.state, st.attempt) == ("uplinking", attempt)
        eta = st.eta_s
        clock._now_s = eta - 1.0
        tr.advance()
        part = tr.part_path("satellite", sha)
        data = bytearray(part.read_bytes())
        data[0] ^= 0xFF  # a bit error the link layer missed
        part.write_bytes(bytes(data))
        clock._now_s = eta
        st = tr.status("small", 1)
        assert "arrived corrupt" in (st.message or "")
        if attempt < 3:
            assert (st.state, st.attempt, st.bytes_sent) == ("uplinking", attempt + 1, 0)
            assert st.eta_s > eta  # re-sent from byte 0 in the following windows
    assert st.state == "refused" and "refused after 3 attempts" in st.message
    assert not tr.arrived_path("satellite", sha).exists()
    with pytest.raises(ModelUplinking, match="refused"):
        tr.require("small", 1, "satellite")
    assert tr.serving_version("small") is None


def test_time_scale_maps_orbit_time_onto_the_clock(db, topology, station_windows) -> None:
    engine, data_dir = db
    blob = b"y" * 5_000_000
    _add_version(engine, data_dir, "fast", 1, blob)
    t0 = topology.epoch_s + 9 * 3600.0
    clock = ManualClock(t0)
    tr = _tracker(db, topology, station_windows, clock, time_scale=60.0)
    st = tr.start("fast", 1)
    _, eta_orbit = _expected(station_windows, t0, len(blob))
    assert st.eta_s == pytest.approx(t0 + (eta_orbit - t0) / 60.0)
    clock._now_s = st.eta_s
    assert tr.status("fast", 1).state == "ready"


def test_migration_0004_matches_the_table(db) -> None:
    engine, _ = db
    cols = {c["name"]: c["nullable"] for c in sa.inspect(engine).get_columns("uplink_transfers")}
    assert cols == {c.name: c.nullable for c in UplinkTransfer.__table__.columns}


def test_uplink_section_is_validated(tmp_path) -> None:
    text = (ROOT / "cluster" / "topology.yaml").read_text()
    bad = tmp_path / "t.yaml"
    bad.write_text(text.replace("rate_bps: 256000.0", "rate_bps: -1"))
    with pytest.raises(ConfigError, match="rate_bps"):
        load_topology(bad)
    dup = text.replace(
        "      ground_stations:\n", "      ground_stations:\n        - {name: riyadh-gs, lat_deg: 1.0, lon_deg: 2.0}\n"
    )
    bad.write_text(dup)
    with pytest.raises(ConfigError, match="duplicate ground station"):
        load_topology(bad)
