"""The satellite tier for a World: serving satellite per site over time, slant range, eclipses, batteries.

Serving rule: when a site gains contact it is served by the visible satellite whose window ends last, until that
window ends (the longest-remaining-visibility rule). Slant range within a pass uses a straight-line relative
track: exact at the pass edges (mask elevation) and at its middle (maximum elevation).
"""

from __future__ import annotations

import bisect
import math
from pathlib import Path

import numpy as np

from maas.tiers.battery import Battery
from maas.tiers.contacts import ContactEngine
from maas.tiers.orbits import Constellation, slant_range_km
from maas.tiers.spec import TierSpec

__all__ = ["SatelliteTier", "Segments"]


class Segments:
    """Serving segments of one site for one UTC day, as plain lists for bisect on the hot path."""

    __slots__ = ("start", "end", "sat", "dmin_km", "v_km_s", "tmid_s")

    def __init__(self) -> None:
        self.start: list[float] = []
        self.end: list[float] = []
        self.sat: list[int] = []
        self.dmin_km: list[float] = []
        self.v_km_s: list[float] = []
        self.tmid_s: list[float] = []


class SatelliteTier:
    """Contact windows, serving satellites, eclipses and batteries of one constellation."""

    def __init__(
        self,
        tier: TierSpec,
        epoch_s: float,
        start_s: float,
        cache_dir: Path | None = None,
        base_dir: Path | None = None,
        keep_history: bool = False,
    ) -> None:
        assert tier.constellation is not None and tier.battery is not None
        self.tier = tier
        self.spec = tier.constellation
        self.constellation = Constellation(self.spec, epoch_s, base_dir)
        self.engine = ContactEngine(self.constellation, cache_dir=cache_dir, use_disk=cache_dir is not None)
        self.start_s = start_s
        self.keep_history = keep_history
        self.d_mask_km = float(slant_range_km(self.spec.elevation_mask_deg, self.spec.altitude_km))
        self._segs: dict[tuple[int, float], Segments] = {}
        self._ecl: dict[float, dict[int, list[tuple[float, float]]]] = {}
        self.batteries: dict[int, Battery] = {}

    @property
    def names(self) -> list[str]:
        return self.constellation.names

    # -- contacts ------------------------------------------------------------------------------------
    def segments(self, site_idx: int, lat: float, lon: float, day: float) -> Segments:
        seg = self._segs.get((site_idx, day))
        if seg is None:
            w = self.engine._compute_windows(np.array([lat]), np.array([lon]), day)
            seg = self._segs[(site_idx, day)] = self._build(w)
            if len(self._segs) > 100_000:
                self._segs.clear()
        return seg

    def prefetch(self, site_idx: np.ndarray, lat: np.ndarray, lon: np.ndarray, day: float) -> None:
        """Compute (or load from the disk cache) many sites' windows for a day in one vectorised pass."""
        w = self.engine.windows(lat, lon, day)
        order = np.argsort(w["site"], kind="stable")
        cuts = np.searchsorted(w["site"][order], np.arange(len(lat) + 1))
        for j, idx in enumerate(site_idx):
            sel = order[cuts[j] : cuts[j + 1]]
            self._segs[(int(idx), day)] = self._build({k: v[sel] for k, v in w.items()})

    def _build(self, w: dict[str, np.ndarray]) -> Segments:
        order = np.argsort(w["start_s"])
        starts, ends = w["start_s"][order], w["end_s"][order]
        sats, max_el = w["sat"][order], w["max_elevation_deg"][order]
        seg = Segments()
        n, i, best = len(starts), 0, -1
        t = float(starts[0]) if n else 0.0
        while i < n or best >= 0:
            while i < n and starts[i] <= t:
                if ends[i] > t and (best < 0 or ends[i] > ends[best]):
                    best = i
                i += 1
            if best < 0:
                if i >= n:
                    break
                t = float(starts[i])
                continue
            s0, s1 = float(starts[best]), float(ends[best])
            dmin = float(slant_range_km(max_el[best], self.spec.altitude_km))
            half = max((s1 - s0) / 2, 1e-3)
            seg.start.append(t)
            seg.end.append(s1)
            seg.sat.append(int(sats[best]))
            seg.dmin_km.append(dmin)
            seg.v_km_s.append(math.sqrt(max(self.d_mask_km**2 - dmin**2, 0.0)) / half)
            seg.tmid_s.append((s0 + s1) / 2)
            t, best = s1, -1
        return seg

    def serving(self, site_idx: int, lat: float, lon: float, t_s: float) -> tuple[int, float, float] | float | None:
        """(sat, window_end_s, slant_km) if in contact at ``t_s``; else the next contact start (or None)."""
        day = math.floor(t_s / 86400.0) * 86400.0
        for d in (day, day - 86400.0):
            seg = self.segments(site_idx, lat, lon, d)
            k = bisect.bisect_right(seg.start, t_s) - 1
            if k >= 0 and t_s < seg.end[k]:
                dt = (t_s - seg.tmid_s[k]) * seg.v_km_s[k]
                return seg.sat[k], seg.end[k], math.sqrt(seg.dmin_km[k] ** 2 + dt * dt)
        for d in (day, day + 86400.0):
            seg = self.segments(site_idx, lat, lon, d)
            k = bisect.bisect_right(seg.start, t_s)
            if k < len(seg.start):
                return seg.start[k]
        return None

    # -- eclipses and batteries --------------------------------------------------------------------------
    def eclipses_between(self, sat: int, t0_s: float, t1_s: float) -> list[tuple[float, float]]:
        """Eclipse intervals of ``sat`` overlapping [t0_s, t1_s], in order."""
        out: list[tuple[float, float]] = []
        day = math.floor(t0_s / 86400.0) * 86400.0 - 86400.0
        while day <= t1_s:
            for s, e in self._eclipse_index(day).get(sat, ()):
                if e > t0_s and s < t1_s:
                    out.append((s, e))
            day += 86400.0
        return out

    def _eclipse_index(self, day: float) -> dict[int, list[tuple[float, float]]]:
        idx = self._ecl.get(day)
        if idx is None:
            sats, starts, ends = self.engine.eclipses(day)
            idx = {}
            for s, a, b in zip(sats.tolist(), starts.tolist(), ends.tolist(), strict=True):
                idx.setdefault(s, []).append((a, b))
            self._ecl[day] = idx
            if len(self._ecl) > 16:
                self._ecl.pop(min(self._ecl))
        return idx

    def battery(self, sat: int) -> Battery:
        b = self.batteries.get(sat)
        if b is None:
            assert self.tier.battery is not None
            b = self.batteries[sat] = Battery(
                self.tier.battery,
                self.tier.energy.idle_w,
                lambda a, z, s=sat: self.eclipses_between(s, a, z),
                self.start_s,
                self.keep_history,
            )
        return b
