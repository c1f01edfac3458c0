"""A site's timeline over a period: contact windows per satellite, eclipses, battery charge, grid outages."""

from __future__ import annotations

import math

import numpy as np

from maas.tiers.battery import Battery
from maas.tiers.world import World, iso_utc

__all__ = ["site_timeline"]


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
