"""Edge-site power: grid outages (daily scheduled load shedding + seeded Poisson outages), UPS ride-through,
diesel backup, weekly maintenance windows. A down interval means the site's edge tiers take no requests.
"""

from __future__ import annotations

import hashlib
import math

import numpy as np

from maas.tiers.spec import GridSpec, MaintenanceWindow, RegionSpec

__all__ = ["Outage", "GridModel", "maintenance_reason"]

Outage = tuple[float, float, str]
"""(start_s, end_s, reason) of an interval when the site is down or on diesel."""


class GridModel:
    """Outage timelines per cell (sites sharing a cell share a grid feed), generated per UTC day from a seed."""

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self._days: dict[tuple[str, float], tuple[list[float], list[Outage], list[Outage]]] = {}

    def grid_outages(self, cell: str, region: RegionSpec, day_start_s: float) -> list[tuple[float, float, str]]:
        """Grid-loss intervals starting in the day: (start_s, end_s, 'scheduled' | 'stochastic')."""
        g = region.grid
        out: list[tuple[float, float, str]] = []
        for w in g.scheduled:
            s = day_start_s + (w.start_h - region.utc_offset_h) * 3600.0
            s = day_start_s + (s - day_start_s) % 86400.0
            out.append((s, s + w.duration_h * 3600.0, "scheduled"))
        if g.outages_per_day > 0:
            rng = np.random.default_rng(self._seed_for(cell, day_start_s))
            n = rng.poisson(g.outages_per_day)
            starts = day_start_s + rng.random(n) * 86400.0
            durs = g.outage_median_min * 60.0 * np.exp(rng.normal(0.0, g.outage_sigma, n))
            out += [(float(s), float(s + d), "stochastic") for s, d in zip(starts, durs, strict=True)]
        return sorted(out)

    def day(self, cell: str, region: RegionSpec, day_start_s: float) -> tuple[list[float], list[Outage], list[Outage]]:
        """(down starts, down intervals, diesel intervals) for outages starting in the day (cached)."""
        key = (cell, day_start_s)
        hit = self._days.get(key)
        if hit is None:
            down, diesel = _effect(self.grid_outages(cell, region, day_start_s), region.grid)
            hit = self._days[key] = ([d[0] for d in down], down, diesel)
            if len(self._days) > 200_000:
                self._days.clear()
        return hit

    def down_reason(self, cell: str, region: RegionSpec, t_s: float) -> str | None:
        """Why the site is down at ``t_s`` ('grid outage'), or None when it has power."""
        day = math.floor(t_s / 86400.0) * 86400.0
        for d in (day, day - 86400.0):
            for s, e, why in self.day(cell, region, d)[1]:
                if s <= t_s < e:
                    return why
        return None

    def on_diesel(self, cell: str, region: RegionSpec, t_s: float) -> bool:
        day = math.floor(t_s / 86400.0) * 86400.0
        for d in (day, day - 86400.0):
            for s, e, _ in self.day(cell, region, d)[2]:
                if s <= t_s < e:
                    return True
        return False

    def _seed_for(self, cell: str, day_start_s: float) -> int:
        h = hashlib.blake2b(f"{self.seed}/{cell}/{int(day_start_s)}".encode(), digest_size=8).digest()
        return int.from_bytes(h, "little")


def _effect(outages: list[tuple[float, float, str]], g: GridSpec) -> tuple[list[Outage], list[Outage]]:
    """Turn grid losses into down intervals (after UPS ride-through, until diesel starts) and diesel intervals."""
    down: list[Outage] = []
    diesel: list[Outage] = []
    ride = g.ups_ride_through_min * 60.0
    for s, e, kind in outages:
        if g.diesel_backup:
            if g.diesel_start_s > ride and s + ride < e:
                down.append((s + ride, min(e, s + g.diesel_start_s), f"grid outage ({kind}), diesel starting"))
            if s + g.diesel_start_s < e:
                diesel.append((s + g.diesel_start_s, e, "diesel"))
        elif s + ride < e:
            down.append((s + ride, e, f"grid outage ({kind})"))
    down.sort()
    return down, diesel


def maintenance_reason(windows: list[MaintenanceWindow], utc_offset_h: float, t_s: float) -> str | None:
    """'maintenance' if local time ``t_s`` falls in a weekly window (1970-01-01 was a Thursday)."""
    if not windows:
        return None
    local_s = t_s + utc_offset_h * 3600.0
    week_s = (local_s + 3 * 86400.0) % (7 * 86400.0)  # 0 = Monday 00:00 local
    for w in windows:
        s = (w.weekday * 24.0 + w.start_h) * 3600.0
        if 0 <= (week_s - s) % (7 * 86400.0) < w.duration_h * 3600.0:
            return "maintenance"
    return None
