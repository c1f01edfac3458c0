"""A site's timeline over a period: contact windows per satellite, eclipses, battery charge, grid outages."""

from __future__ import annotations

import math

import numpy as np

from maas.tiers.battery import Battery
from maas.tiers.world import World, iso_utc

__all__ = ["battery_band", "in_view", "in_view_counts", "site_timeline"]


def site_timeline(world: World, site: str, t0_s: float, t1_s: float) -> dict:
    """Everything that decides availability at ``site`` in [t0_s, t1_s], times as ISO-8601 UTC strings.

    Battery curves start full (or at ``initial_j``) at ``t0_s`` with no compute load, and are exact: one point per
    eclipse edge and per full-charge kink (the charge is linear in between).
    """
    topo = world.topology
    s = topo.site(site)
    sat = world.satellites
    windows: list[dict] = []
    seen: set[int] = set()
    day = math.floor(t0_s / 86400.0) * 86400.0 - 86400.0
    while day < t1_s:
        w = sat.engine._compute_windows(np.array([s.lat_deg]), np.array([s.lon_deg]), day)
        for k in np.argsort(w["start_s"]):
            a, b = float(w["start_s"][k]), float(w["end_s"][k])
            if b > t0_s and a < t1_s:
                seen.add(int(w["sat"][k]))
                windows.append(
                    {
                        "satellite": sat.names[int(w["sat"][k])],
                        "start": iso_utc(a),
                        "end": iso_utc(b),
                        "start_s": a,
                        "end_s": b,
                        "max_elevation_deg": round(float(w["max_elevation_deg"][k]), 2),
                    }
                )
        day += 86400.0
    eclipses, battery = [], []
    spec = world.tiers["satellite"]
    for i in sorted(seen):
        ecl = sat.eclipses_between(i, t0_s, t1_s)
        eclipses += [
            {
                "satellite": sat.names[i],
                "start": iso_utc(max(a, t0_s)),
                "end": iso_utc(min(b, t1_s)),
                "start_s": max(a, t0_s),
                "end_s": min(b, t1_s),
            }
            for a, b in ecl
        ]
        assert spec.battery is not None
        bat = Battery(spec.battery, spec.energy.idle_w, lambda a, z, j=i: sat.eclipses_between(j, a, z), t0_s, True)
        bat.at(t1_s)
        battery += [
            {"satellite": sat.names[i], "t": iso_utc(t), "t_s": t, "soc_j": round(soc, 1)}
            for t, soc in bat.history or []
        ]
    outages = []
    region = topo.regions[s.region]
    day = math.floor(t0_s / 86400.0) * 86400.0 - 86400.0
    while day < t1_s:
        _, down, _ = world.grid.day(s.cell or site, region, day)
        outages += [
            {
                "site": site,
                "start": iso_utc(max(a, t0_s)),
                "end": iso_utc(min(b, t1_s)),
                "start_s": max(a, t0_s),
                "end_s": min(b, t1_s),
                "reason": why,
            }
            for a, b, why in down
            if b > t0_s and a < t1_s
        ]
        day += 86400.0
    windows.sort(key=lambda w: w["start_s"])
    return {
        "site": site,
        "start": iso_utc(t0_s),
        "end": iso_utc(t1_s),
        "windows": windows,
        "eclipses": eclipses,
        "battery": battery,
        "outages": outages,
    }


def battery_band(battery: list[dict], t_s: np.ndarray) -> dict[str, np.ndarray]:
    """Min, median and max state of charge (J) over the satellites at the times ``t_s``.

    ``battery`` is the ``site_timeline`` list (one row per point of each satellite's piecewise-linear curve).
    """
    curves: dict[str, tuple[list[float], list[float]]] = {}
    for row in battery:
        ts, js = curves.setdefault(row["satellite"], ([], []))
        ts.append(row["t_s"])
        js.append(row["soc_j"])
    if not curves:
        empty = np.full(len(t_s), np.nan)
        return {"min": empty, "median": empty, "max": empty}
    grid = np.vstack([np.interp(t_s, ts, js) for ts, js in curves.values()])
    return {"min": grid.min(axis=0), "median": np.median(grid, axis=0), "max": grid.max(axis=0)}


def in_view(windows: list[dict], t_s: float) -> list[str]:
    """The satellites whose contact window with the site contains ``t_s`` (the ones it can reach then)."""
    return sorted({w["satellite"] for w in windows if w["start_s"] <= t_s < w["end_s"]})


def in_view_counts(doc: dict, t_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """How many satellites the site can reach at each of ``t_s``, and how many of those are in eclipse."""
    eclipses: dict[str, list[tuple[float, float]]] = {}
    for e in doc["eclipses"]:
        eclipses.setdefault(e["satellite"], []).append((e["start_s"], e["end_s"]))
    seen = np.zeros(len(t_s), dtype=int)
    dark = np.zeros(len(t_s), dtype=int)
    for w in doc["windows"]:
        up = (t_s >= w["start_s"]) & (t_s < w["end_s"])
        seen += up
        shade = np.zeros(len(t_s), dtype=bool)
        for a, b in eclipses.get(w["satellite"], []):
            shade |= (t_s >= a) & (t_s < b)
        dark += up & shade
    return seen, dark
