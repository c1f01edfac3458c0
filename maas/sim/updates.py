"""Model updates in virtual time: a new version reaches a satellite tier only when its uplink completes.

``uplink_switches(spec, file, tiers, models)`` turns the scenario's ``model_updates`` into the engine's host-time
switches (``EngineInput.host_switches``: from the completion second on, requests arriving for the model run the
new version's host time on that tier) and a summary per update for the run's report. The completion time is the
ETA of ``maas.tiers.uplink.plan_uplink`` over the tier's windows: the topology's ground-station windows (rate and
setup from its ``uplink`` section unless the update gives them), or a table tier's periodic windows
(``up_period_s``/``up_s``; always up when it has none; the update must give ``uplink_bps``).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from maas.errors import ConfigError
from maas.tiers.uplink import ContactWindow, plan_uplink

__all__ = ["uplink_switches"]


def _epoch_s(text: str) -> float:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def uplink_switches(
    spec, file: str, tiers: list[str], models: list[str]
) -> tuple[list[tuple[int, str, float, float]], list[dict]]:
    """(engine host switches, summaries) for ``spec.model_updates``; ConfigError names a wrong field."""
    switches: list[tuple[int, str, float, float]] = []
    summaries: list[dict] = []
    if not spec.model_updates:
        return switches, summaries
    epoch = _epoch_s(spec.epoch_start)
    seen: set[str] = set()
    topology = None
    for i, u in enumerate(spec.model_updates):
        where = f"model_updates.{i}"
        if u.model in seen:
            raise ConfigError(file, f"{where}.model", f"a second update of {u.model!r}", "one update per model")
        seen.add(u.model)
        if u.tier not in tiers:
            raise ConfigError(file, f"{where}.tier", f"unknown tier {u.tier!r}", ", ".join(tiers))
        start = epoch + u.at_s
        if spec.table_tiers is not None:
            table = next(t for t in spec.table_tiers if t.name == u.tier)
            if table.kind != "satellite":
                raise ConfigError(file, f"{where}.tier", f"{u.tier!r} is not a satellite tier", "a satellite tier")
            if u.uplink_bps is None:
                raise ConfigError(file, f"{where}.uplink_bps", "required with table_tiers", "> 0 (bits per second)")
            rate, setup, station = u.uplink_bps, u.setup_s or 0.0, None
            windows = _table_windows(table.up_period_s, table.up_s, start)
        else:
            if topology is None:
                from maas.tiers import load_topology

                topology = load_topology((Path(file).parent / spec.topology).resolve())
            tier = topology.tiers[u.tier]
            if tier.kind != "satellite" or tier.uplink is None:
                raise ConfigError(
                    file,
                    f"{where}.tier",
                    f"{u.tier!r} has no uplink section in the topology",
                    "a satellite tier with 'uplink'",
                )
            rate = u.uplink_bps or tier.uplink.rate_bps
            setup = tier.uplink.setup_s if u.setup_s is None else u.setup_s
            plan, station = _station_plan(topology, u.tier, start, rate, setup, u.size_bytes)
        if spec.table_tiers is not None:
            plan = plan_uplink(windows, u.size_bytes, rate, setup, start)
        m = models.index(u.model)
        old = spec.models[u.model].host_compute_ms
        new = u.host_compute_ms if u.host_compute_ms is not None else old * (u.speed_factor or 1.0)
        done_s = None if plan.eta_s is None else plan.eta_s - epoch
        if done_s is not None:
            switches.append((m, u.tier, done_s, new))
        summaries.append(
            {
                "model": u.model,
                "tier": u.tier,
                "station": station,
                "released_s": u.at_s,
                "size_bytes": u.size_bytes,
                "uplink_bps": rate,
                "setup_s": setup,
                "windows_used": len(plan.uses),
                "uplink_complete_s": done_s,
                "old_host_ms": old,
                "new_host_ms": new,
            }
        )
    return switches, summaries


def _table_windows(period_s: float | None, up_s: float | None, from_s: float):
    if period_s is None or up_s is None:
        return [ContactWindow(from_s, float("inf"))]
    from maas.tiers.uplink import periodic_windows

    return periodic_windows(period_s, up_s, from_s)


def _station_plan(topology, tier_name: str, start: float, rate: float, setup: float, size: int):
    """The plan of the ground station that finishes first (as the live tracker chooses)."""
    from maas.tiers.uplink import GroundStationWindows

    tier = topology.tiers[tier_name]
    best = None
    for g in tier.uplink.ground_stations:
        gsw = GroundStationWindows(
            tier, topology.epoch_s, g, horizon_days=tier.uplink.horizon_days, base_dir=Path(topology.file).parent
        )
        plan = plan_uplink(gsw.windows(start), size, rate, setup, start)  # windows predicted lazily, day by day
        eta = float("inf") if plan.eta_s is None else plan.eta_s
        if best is None or eta < best[0]:
            best = (eta, plan, g.name)
    assert best is not None
    return best[1], best[2]
