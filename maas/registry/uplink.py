"""Delivery of model versions to the satellite tier by uplink over the ground stations' contact windows.

    tracker = UplinkTracker(engine, data_dir, topology, clock, time_scale=settings.uplink_time_scale)
    tracker.resume()                                  # at start: continue from the bytes already on the satellite
    tracker.start("minilm-embed", 2)                  # the version's int8 variant starts travelling
    tracker.advance()                                 # the uplinker's step: bytes arrive, state is persisted
    tracker.require("minilm-embed", 2, "satellite")   # the gateway: ModelUplinking (503) until the bytes are there
    tracker.rollout_status("minilm-embed")            # `maas rollout status`: per satellite tier, JSON-able

Lifecycle of a transfer (one row of ``uplink_transfers`` per model, version and satellite tier):
1. ``start``: the int8 artifact (sha256, size) is read from the registry; the ground station whose predicted
   windows (``maas.tiers.uplink``) finish it first is chosen; the plan starts now.
2. ``advance``: bytes the plan says have arrived are copied into the satellite side's store
   (``<data_dir>/uplink/<tier>/<sha256>.part``) and ``bytes_sent`` is committed after them.
3. On the last byte the arrival is hashed: equal to the artifact's sha256 -> ``ready`` (the file becomes
   ``<sha256>.onnx``); otherwise the arrival is discarded and re-sent from byte 0 from the next window
   (attempt + 1); after ``max_attempts`` corrupt arrivals the version is ``refused``.
4. ``resume`` (a restart): uplinking stopped while the process was down; each transfer continues from the bytes
   on the satellite (the ``.part`` file, never more than the committed ``bytes_sent``) in the next window.
``status``/``require``/``rollout_status`` project the current plan to ``now`` without writing, so another process
(the CLI) sees what the uplinker does. Time: orbit seconds = ``origin + (clock - origin) x time_scale``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from sqlalchemy import Engine, select

from maas.clock import Clock, WallClock
from maas.errors import InvalidInput, ModelNotFound
from maas.registry.artifacts import ArtifactStore
from maas.registry.tables import ModelVariant, ModelVersion, RegisteredModel
from maas.registry.uplink_status import READY, REFUSED, UPLINKING, ModelUplinking, UplinkStatus, uplink_message
from maas.registry.uplink_store import SatelliteStore
from maas.registry.uplink_tables import UplinkTransfer
from maas.store import session_scope
from maas.tiers.spec import GroundStationSpec
from maas.tiers.uplink import ContactWindow, GroundStationWindows, UplinkPlan, plan_uplink

__all__ = ["UplinkTracker", "UplinkStatus", "ModelUplinking", "uplink_message", "WindowSource"]

WindowSource = Callable[[float], Iterable[ContactWindow]]
"""Contact windows (orbit seconds, in order) ending after the time given."""


class UplinkTracker:
    """Uplinks of model versions to the topology's satellite tiers, persisted in the platform database."""

    def __init__(
        self,
        engine: Engine,
        data_dir: Path,
        topology,
        clock: Clock | None = None,
        *,
        time_scale: float = 1.0,
        windows: Callable[[str, GroundStationSpec], WindowSource] | None = None,
        cache_dir: Path | None = None,
    ) -> None:
        if time_scale <= 0:
            raise InvalidInput(f"uplink_time_scale: {time_scale} (allowed: > 0)")
        self.engine = engine
        self.data_dir = Path(data_dir)
        self.artifacts = ArtifactStore(self.data_dir / "artifacts")
        self.store = SatelliteStore(self.data_dir / "uplink")
        self.topology = topology
        self.clock = clock or WallClock()
        self.time_scale = time_scale
        self.tiers = {k: t for k, t in topology.tiers.items() if t.kind == "satellite" and t.uplink is not None}
        self._windows_factory = windows
        self._cache_dir = cache_dir
        self._sources: dict[tuple[str, str], WindowSource] = {}
        self._plans: dict[tuple, UplinkPlan] = {}

    # -- the satellite side's store ----------------------------------------------------------------------------
    def part_path(self, tier: str, sha256: str) -> Path:
        """Where the bytes that arrived so far are kept (the satellite's copy)."""
        return self.store.part_path(tier, sha256)

    def arrived_path(self, tier: str, sha256: str) -> Path:
        """The verified artifact on the satellite side."""
        return self.store.arrived_path(tier, sha256)

    def _write_part(self, row: UplinkTransfer, target: int) -> None:
        self.store.fill(row.tier, row.artifact_sha256, self.artifacts.path(row.artifact_sha256), target)

    # -- windows and plans -------------------------------------------------------------------------------------
    def windows_of(self, tier: str, station: GroundStationSpec) -> WindowSource:
        key = (tier, station.name)
        src = self._sources.get(key)
        if src is None:
            if self._windows_factory is not None:
                src = self._windows_factory(tier, station)
            else:
                spec = self.tiers[tier]
                gsw = GroundStationWindows(
                    spec,
                    self.topology.epoch_s,
                    station,
                    horizon_days=spec.uplink.horizon_days,
                    cache_dir=self._cache_dir,
                    base_dir=Path(self.topology.file).parent,
                )
                src = gsw.windows
            self._sources[key] = src
        return src

    def _station(self, tier: str, name: str) -> GroundStationSpec:
        for g in self.tiers[tier].uplink.ground_stations:
            if g.name == name:
                return g
        raise InvalidInput(f"ground station {name!r} is not in the topology's {tier} uplink section")

    def plan(self, row: UplinkTransfer) -> UplinkPlan:
        """The current plan of ``row`` (orbit seconds): from ``segment_start_s`` with ``segment_bytes0`` there."""
        key = (row.id, row.attempt, row.segment_start_s, row.segment_bytes0, row.station)
        got = self._plans.get(key)
        if got is None:
            src = self.windows_of(row.tier, self._station(row.tier, row.station))
            got = plan_uplink(
                src(row.segment_start_s),
                row.size_bytes,
                row.rate_bps,
                row.setup_s,
                row.segment_start_s,
                row.segment_bytes0,
            )
            if len(self._plans) > 1024:
                self._plans.clear()
            self._plans[key] = got
        return got

    @staticmethod
    def _orbit(row: UplinkTransfer, clock_s: float) -> float:
        return row.origin_s + (clock_s - row.origin_s) * row.time_scale

    @staticmethod
    def _clock(row: UplinkTransfer, orbit_s: float) -> float:
        return row.origin_s + (orbit_s - row.origin_s) / row.time_scale

    # -- starting, advancing, resuming -------------------------------------------------------------------------
    def start(self, name: str, version: int, tier: str | None = None, now_s: float | None = None) -> UplinkStatus:
        """Start sending ``name`` ``version``'s int8 variant to ``tier`` (default: every satellite tier's first);
        idempotent (an existing transfer's status is returned)."""
        tier = self._tier(tier)
        now = self.clock.now_s() if now_s is None else now_s
        existing = self._row(name, version, tier)
        if existing is not None:
            return self._status(existing, now)
        sha256, size = self._int8_artifact(name, version)
        self.artifacts.verify(sha256)
        up = self.tiers[tier].uplink
        best: tuple[float, str] | None = None
        for g in up.ground_stations:  # the station whose predicted windows finish the transfer first
            p = plan_uplink(self.windows_of(tier, g)(now), size, up.rate_bps, up.setup_s, now)
            eta = p.eta_s if p.eta_s is not None else float("inf")
            if best is None or eta < best[0]:
                best = (eta, g.name)
        assert best is not None
        row = UplinkTransfer(
            model=name,
            version=version,
            tier=tier,
            station=best[1],
            artifact_sha256=sha256,
            size_bytes=size,
            rate_bps=up.rate_bps,
            setup_s=up.setup_s,
            time_scale=self.time_scale,
            origin_s=now,
            state=UPLINKING,
            attempt=1,
            max_attempts=up.max_attempts,
            segment_start_s=now,
            segment_bytes0=0,
            bytes_sent=0,
            progress_at_s=now,
            windows=[],
            completed_at_s=None,
            message=None,
            created_at_s=now,
        )
        self.store.fill(tier, sha256, self.artifacts.path(sha256), 0)
        with session_scope(self.engine) as session:
            session.add(row)
        return self._status(row, now)

    def advance(self, now_s: float | None = None) -> list[UplinkStatus]:
        """The uplinker's step: what arrived by ``now`` is written to the satellite side and committed; finished
        transfers are verified (sha256). Returns the status of every transfer that was uplinking."""
        now = self.clock.now_s() if now_s is None else now_s
        out = []
        with session_scope(self.engine) as session:
            rows = list(session.scalars(select(UplinkTransfer).where(UplinkTransfer.state == UPLINKING)))
            for row in rows:
                self._advance_row(row, now)
            session.flush()
        for row in rows:
            out.append(self._status(row, now))
        return out

    def _advance_row(self, row: UplinkTransfer, now: float) -> None:
        orbit_now = self._orbit(row, now)
        while row.state == UPLINKING:
            plan = self.plan(row)
            target = plan.bytes_at(orbit_now)
            self._write_part(row, target)
            row.bytes_sent = target
            row.progress_at_s = now
            if plan.eta_s is None or plan.eta_s > orbit_now:
                return
            self._arrive(row, plan)

    def _arrive(self, row: UplinkTransfer, plan: UplinkPlan) -> None:
        """The last byte is there: verify it against the artifact's sha256 (ready, re-send or refuse)."""
        got = self.store.arrive(row.tier, row.artifact_sha256)
        used = [self._use_dict(row, u) for u in plan.uses]
        assert plan.eta_s is not None
        if got == row.artifact_sha256:
            row.state, row.completed_at_s = READY, self._clock(row, plan.eta_s)
            row.windows = list(row.windows) + used
            row.message = None if row.attempt == 1 else f"verified on attempt {row.attempt}"
            return
        note = f"attempt {row.attempt} arrived corrupt (sha256 {got[:12]}..., expected {row.artifact_sha256[:12]}...)"
        row.windows = list(row.windows) + used
        if row.attempt >= row.max_attempts:
            row.state, row.message = REFUSED, f"{note}; refused after {row.attempt} attempts"
            row.bytes_sent = 0
            return
        row.attempt += 1
        row.message = f"{note}; re-sending from byte 0"
        row.segment_start_s, row.segment_bytes0, row.bytes_sent = plan.eta_s, 0, 0

    def resume(self, now_s: float | None = None) -> list[UplinkStatus]:
        """After a restart: each uplinking transfer continues from the bytes on the satellite (the ``.part`` file,
        at most the committed ``bytes_sent``) in the first window after ``now``; nothing was sent while down."""
        now = self.clock.now_s() if now_s is None else now_s
        with session_scope(self.engine) as session:
            rows = list(session.scalars(select(UplinkTransfer).where(UplinkTransfer.state == UPLINKING)))
            for row in rows:
                have = min(self.store.have(row.tier, row.artifact_sha256), row.bytes_sent)
                self._write_part(row, have)
                plan = self.plan(row)
                progress_orbit = self._orbit(row, row.progress_at_s)
                row.windows = list(row.windows) + [self._use_dict(row, u) for u in plan.used_at(progress_orbit)]
                row.segment_start_s, row.segment_bytes0, row.bytes_sent = self._orbit(row, now), have, have
                row.progress_at_s = now
        return [self._status(row, now) for row in rows]

    # -- reading (the gateway, the rollout CLI) ----------------------------------------------------------------
    def status(
        self, name: str, version: int, now_s: float | None = None, tier: str | None = None
    ) -> UplinkStatus | None:
        """Where ``name`` ``version`` stands on ``tier`` at ``now`` (None: it was never uplinked there)."""
        now = self.clock.now_s() if now_s is None else now_s
        row = self._row(name, version, self._tier(tier))
        return None if row is None else self._status(row, now)

    def serving_version(self, name: str, tier: str | None = None) -> int | None:
        """The newest version of ``name`` whose uplink to ``tier`` arrived verified (None: none did)."""
        with session_scope(self.engine, write=False) as session:
            return session.scalar(
                select(UplinkTransfer.version)
                .where(
                    UplinkTransfer.model == name, UplinkTransfer.tier == self._tier(tier), UplinkTransfer.state == READY
                )
                .order_by(UplinkTransfer.version.desc())
                .limit(1)
            )

    def require(self, name: str, version: int, tier: str, now_s: float | None = None) -> None:
        """For the gateway: return if ``version`` may be served on ``tier`` (not a satellite tier, never uplinked
        (it was there before), or arrived); else ``ModelUplinking`` (503) saying how far it got and when."""
        if tier not in self.tiers:
            return
        st = self.status(name, version, now_s, tier)
        if st is None or st.ready:
            return
        raise ModelUplinking(st, self.serving_version(name, tier))

    def rollout_status(self, name: str, now_s: float | None = None) -> list[UplinkStatus]:
        """Every transfer of ``name`` (all versions, all satellite tiers), newest version first."""
        now = self.clock.now_s() if now_s is None else now_s
        with session_scope(self.engine, write=False) as session:
            rows = list(
                session.scalars(
                    select(UplinkTransfer)
                    .where(UplinkTransfer.model == name)
                    .order_by(UplinkTransfer.version.desc(), UplinkTransfer.tier)
                )
            )
        return [self._status(r, now) for r in rows]

    def _status(self, row: UplinkTransfer, now: float) -> UplinkStatus:
        common = dict(
            model=row.model,
            version=row.version,
            tier=row.tier,
            station=row.station,
            bytes_total=row.size_bytes,
            sha256=row.artifact_sha256,
            attempt=row.attempt,
            at_s=now,
            time_scale=row.time_scale,
            rate_bps=row.rate_bps,
            setup_s=row.setup_s,
            message=row.message,
        )
        if row.state != UPLINKING:
            return UplinkStatus(
                state=row.state,
                bytes_sent=row.size_bytes if row.state == READY else row.bytes_sent,
                windows_used=list(row.windows),
                eta_s=row.completed_at_s,
                completed_at_s=row.completed_at_s,
                **common,
            )
        plan = self.plan(row)
        orbit_now = self._orbit(row, now)
        if plan.eta_s is not None and plan.eta_s <= orbit_now:  # arrived since the last advance: verify it now
            self.advance(now)
            fresh = self._row(row.model, row.version, row.tier)
            assert fresh is not None
            return self._status(fresh, now)  # advance left it verified, refused, or re-sending with a later eta
        return self._projected(row, now, common)

    def _projected(self, row: UplinkTransfer, now: float, common: dict) -> UplinkStatus:
        plan = self.plan(row)
        orbit_now = self._orbit(row, now)
        nxt = plan.next_window(orbit_now)
        used = list(row.windows) + [self._use_dict(row, u) for u in plan.used_at(orbit_now)]
        return UplinkStatus(
            state=UPLINKING,
            bytes_sent=plan.bytes_at(orbit_now),
            windows_used=used,
            next_window_start_s=None if nxt is None else self._clock(row, max(nxt.window.start_s, plan.start_s)),
            next_window_end_s=None if nxt is None else self._clock(row, nxt.window.end_s),
            eta_s=None if plan.eta_s is None else self._clock(row, plan.eta_s),
            **common,
        )

    def _use_dict(self, row: UplinkTransfer, use) -> dict:
        w = use.window
        return {
            "start_s": self._clock(row, w.start_s),
            "end_s": self._clock(row, w.end_s),
            "sat": w.sat,
            "station": w.station,
            "send_start_s": self._clock(row, use.send_start_s),
            "send_end_s": self._clock(row, use.send_end_s),
            "bytes": use.bytes_sent,
            "attempt": row.attempt,
        }

    # -- lookups ----------------------------------------------------------------------------------------------
    def _tier(self, tier: str | None) -> str:
        if tier is None:
            if not self.tiers:
                raise InvalidInput("the topology has no satellite tier with an 'uplink' section")
            return next(iter(self.tiers))
        if tier not in self.tiers:
            raise InvalidInput(f"tier {tier!r} receives no uplinks (allowed: {', '.join(self.tiers) or 'none'})")
        return tier

    def _row(self, name: str, version: int, tier: str) -> UplinkTransfer | None:
        with session_scope(self.engine, write=False) as session:
            return session.scalar(
                select(UplinkTransfer).where(
                    UplinkTransfer.model == name, UplinkTransfer.version == version, UplinkTransfer.tier == tier
                )
            )

    def _int8_artifact(self, name: str, version: int) -> tuple[str, int]:
        with session_scope(self.engine, write=False) as session:
            got = session.execute(
                select(ModelVariant.artifact_sha256, ModelVariant.size_bytes)
                .join(ModelVersion, ModelVariant.version_id == ModelVersion.id)
                .join(RegisteredModel, ModelVersion.model_id == RegisteredModel.id)
                .where(RegisteredModel.name == name, ModelVersion.version == version, ModelVariant.variant == "int8")
            ).first()
        if got is None:
            raise ModelNotFound(f"model {name!r} version {version} has no int8 variant in the registry")
        return str(got[0]), int(got[1])
