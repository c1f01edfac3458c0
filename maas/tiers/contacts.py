"""Contact windows (satellite above a site's elevation mask) and eclipse intervals, per UTC day, vectorised.

For one UTC day the whole constellation is propagated once on a ``contact_step_s`` grid (padded by 45 min on
both sides so passes across midnight stay whole). For each site the cosine of the Earth central angle to every
satellite sample in its latitude band (samples sorted by latitude once per day) is one BLAS product; candidates are refined to exact spherical-Earth elevation and window edges
are interpolated linearly between samples. A window belongs to the day in which it starts. Passes shorter than
one step can be missed (none above the mask at 30 s steps for the default shells). Results are cached on disk
(``~/.cache/maas/contacts`` or a given dir) under a hash of every input.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from maas.tiers.orbits import (
    EARTH_RADIUS_KM,
    Constellation,
    coverage_half_angle_rad,
    elevation_from_cos_rad,
    sun_unit_eci,
)

__all__ = ["DayGrid", "ContactEngine", "site_unit_vectors", "default_cache_dir"]

_PAD_S = 2700.0  # longer than any eclipse (~36 min) and any pass
_CACHE_VERSION = 5


def default_cache_dir() -> Path:
    return Path(os.path.expanduser("~")) / ".cache" / "maas" / "contacts"


def site_unit_vectors(lat_deg: np.ndarray, lon_deg: np.ndarray) -> np.ndarray:
    """Earth-fixed unit vectors of sites, shape (n, 3)."""
    la, lo = np.radians(np.asarray(lat_deg, float)), np.radians(np.asarray(lon_deg, float))
    return np.stack([np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)], axis=-1)


@dataclass
class DayGrid:
    """One day of propagated positions: times (n_t), Earth-fixed unit vectors (3, n_sat*n_t) and radii."""

    day_start_s: float
    t_s: np.ndarray
    unit_flat: np.ndarray
    radius_flat: np.ndarray
    r_teme: np.ndarray
    _by_lat: tuple[np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray, np.ndarray]] | None = None

    @property
    def n_t(self) -> int:
        return int(self.t_s.size)

    def by_latitude(self) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Samples sorted by the z of their unit vector: (order, sorted z, unit vectors in that order)."""
        if self._by_lat is None:
            order = np.argsort(self.unit_flat[2], kind="stable")
            xyz = tuple(np.ascontiguousarray(self.unit_flat[k][order]) for k in range(3))
            self._by_lat = (order, xyz[2], xyz)
        return self._by_lat


class ContactEngine:
    """Computes and caches contact windows and eclipses for a constellation."""

    def __init__(self, constellation: Constellation, cache_dir: Path | None = None, use_disk: bool = True) -> None:
        self.constellation = constellation
        self.spec = constellation.spec
        self.mask_deg = self.spec.elevation_mask_deg
        self.step_s = self.spec.contact_step_s
        self.cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        self.use_disk = use_disk
        self._grids: dict[float, DayGrid] = {}
        self._eclipses: dict[float, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    # -- propagation -------------------------------------------------------------------------------
    def grid(self, day_start_s: float) -> DayGrid:
        """Propagated positions for the UTC day starting at ``day_start_s`` (kept for the two latest days)."""
        g = self._grids.get(day_start_s)
        if g is None:
            t = np.arange(day_start_s - _PAD_S, day_start_s + 86400.0 + _PAD_S + self.step_s / 2, self.step_s)
            r_teme, _ = self.constellation.propagate_teme(t)
            ecef = Constellation.teme_to_ecef(r_teme, t)
            radius = np.linalg.norm(ecef, axis=-1)
            unit = (ecef / radius[..., None]).reshape(-1, 3).T.astype(np.float32)
            g = DayGrid(day_start_s, t, np.ascontiguousarray(unit), radius.reshape(-1), r_teme)
            if len(self._grids) >= 2:
                self._grids.pop(min(self._grids))
            self._grids[day_start_s] = g
        return g

    # -- contact windows ---------------------------------------------------------------------------
    def windows(self, lat_deg: np.ndarray, lon_deg: np.ndarray, day_start_s: float) -> dict[str, np.ndarray]:
        """Windows starting in the day for each site: flat arrays site, sat, start_s, end_s, max_elevation_deg."""
        lat, lon = np.atleast_1d(np.asarray(lat_deg, float)), np.atleast_1d(np.asarray(lon_deg, float))
        path = self._cache_path("win", day_start_s, lat.tobytes() + lon.tobytes())
        if self.use_disk and path.exists():
            with np.load(path) as z:
                return {k: z[k] for k in z.files}
        out = self._compute_windows(lat, lon, day_start_s)
        if self.use_disk:
            _save_npz(path, out)
        return out

    def _compute_windows(self, lat: np.ndarray, lon: np.ndarray, day_start_s: float) -> dict[str, np.ndarray]:
        g = self.grid(day_start_s)
        r_max = float(np.nanmax(g.radius_flat))
        half_angle = coverage_half_angle_rad(self.mask_deg, r_max) + 1e-3
        cos_thr = np.float32(np.cos(half_angle))
        mask_rad = np.radians(self.mask_deg)
        order, z_sorted, unit_sorted = g.by_latitude()
        units = site_unit_vectors(lat, lon)
        parts: list[dict[str, np.ndarray]] = []
        for i, u in enumerate(units):
            # only samples whose sub-satellite latitude is within the coverage half-angle can be visible
            phi = np.arcsin(np.clip(u[2], -1.0, 1.0))
            # (float32 keys: a float64 key would make numpy convert the whole sorted array on every call)
            lo = z_sorted.searchsorted(np.float32(np.sin(max(phi - half_angle, -np.pi / 2)) - 1e-6))
            hi = z_sorted.searchsorted(np.float32(np.sin(min(phi + half_angle, np.pi / 2)) + 1e-6), side="right")
            x, y, z = unit_sorted
            ux, uy, uz = (np.float32(c) for c in u)
            cos_band = x[lo:hi] * ux + y[lo:hi] * uy + z[lo:hi] * uz
            hit = np.flatnonzero(cos_band >= cos_thr)
            idx = order[lo + hit]
            srt = np.argsort(idx)
            parts.append(self._site_runs(i, u, idx[srt], cos_band[hit][srt], g, mask_rad, day_start_s))
        keys = ("site", "sat", "start_s", "end_s", "max_elevation_deg")
        return {k: np.concatenate([p[k] for p in parts]) if parts else np.zeros(0) for k in keys}

    def _site_runs(
        self,
        site: int,
        u: np.ndarray,
        cand: np.ndarray,
        cos_cand: np.ndarray,
        g: DayGrid,
        mask_rad: float,
        day_start_s: float,
    ) -> dict[str, np.ndarray]:
        n_t = g.n_t
        el = elevation_from_cos_rad(cos_cand.astype(float), g.radius_flat[cand])
        keep = el >= mask_rad
        idx, el = cand[keep], el[keep]
        if idx.size == 0:
            return _empty_runs()
        brk = np.flatnonzero((np.diff(idx) != 1) | (idx[1:] % n_t == 0)) + 1
        first = np.concatenate([[0], brk])
        last = np.concatenate([brk - 1, [idx.size - 1]])
        s_idx, e_idx = idx[first], idx[last]
        t_s = g.t_s
        start = self._edge(s_idx, s_idx - 1, el[first], u, g, mask_rad, s_idx % n_t == 0)
        end = self._edge(e_idx, e_idx + 1, el[last], u, g, mask_rad, (e_idx + 1) % n_t == 0)
        start = np.where(s_idx % n_t == 0, t_s[s_idx % n_t], start)
        end = np.where((e_idx + 1) % n_t == 0, t_s[e_idx % n_t], end)
        max_el = np.degrees(np.maximum.reduceat(el, first))
        in_day = (start >= day_start_s) & (start < day_start_s + 86400.0)
        return {
            "site": np.full(int(in_day.sum()), site, dtype=np.int32),
            "sat": (s_idx // n_t)[in_day].astype(np.int32),
            "start_s": start[in_day],
            "end_s": end[in_day],
            "max_elevation_deg": max_el[in_day],
        }

    def _edge(
        self,
        inside: np.ndarray,
        outside: np.ndarray,
        el_in: np.ndarray,
        u: np.ndarray,
        g: DayGrid,
        mask_rad: float,
        at_border: np.ndarray,
    ) -> np.ndarray:
        """Interpolate the time the elevation crosses the mask between an inside and an outside sample."""
        n_t = g.n_t
        out_safe = np.where(at_border, inside, outside)
        cos_out = u.astype(np.float32) @ g.unit_flat[:, out_safe]
        el_out = elevation_from_cos_rad(cos_out.astype(float), g.radius_flat[out_safe])
        denom = np.where(np.abs(el_in - el_out) > 1e-12, el_in - el_out, 1.0)
        frac = np.clip((mask_rad - el_out) / denom, 0.0, 1.0)
        t_in, t_out = g.t_s[inside % n_t], g.t_s[out_safe % n_t]
        return t_out + frac * (t_in - t_out)

    # -- eclipses ----------------------------------------------------------------------------------
    def eclipses(self, day_start_s: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Eclipse intervals starting in the day for every satellite: (sat, start_s, end_s), sorted by sat."""
        if day_start_s in self._eclipses:
            return self._eclipses[day_start_s]
        path = self._cache_path("ecl", day_start_s, b"")
        if self.use_disk and path.exists():
            with np.load(path) as z:
                res = (z["sat"], z["start_s"], z["end_s"])
        else:
            res = self._compute_eclipses(day_start_s)
            if self.use_disk:
                _save_npz(path, {"sat": res[0], "start_s": res[1], "end_s": res[2]})
        self._eclipses[day_start_s] = res
        if len(self._eclipses) > 8:
            self._eclipses.pop(min(self._eclipses))
        return res

    def _compute_eclipses(self, day_start_s: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        g = self.grid(day_start_s)
        sun = sun_unit_eci(g.t_s)[None, :, :]
        along = np.sum(g.r_teme * sun, axis=-1)
        perp = np.sqrt(np.maximum(np.sum(g.r_teme**2, axis=-1) - along**2, 0.0))
        depth = np.where(along < 0, EARTH_RADIUS_KM - perp, -EARTH_RADIUS_KM)  # > 0 inside the shadow
        depth = np.nan_to_num(depth, nan=-EARTH_RADIUS_KM)
        inside = depth > 0
        n_sat, n_t = inside.shape
        edges = np.diff(inside.astype(np.int8), axis=1)
        sats, starts, ends = [], [], []
        for s in range(n_sat):
            up = np.flatnonzero(edges[s] == 1)  # between k and k+1: enters
            down = np.flatnonzero(edges[s] == -1)
            if inside[s, 0]:
                down = down[1:] if down.size else down
            for k in up:
                later = down[down > k]
                if later.size == 0:
                    break
                j = later[0]
                t_in = _cross(g.t_s[k], g.t_s[k + 1], depth[s, k], depth[s, k + 1])
                t_out = _cross(g.t_s[j], g.t_s[j + 1], depth[s, j], depth[s, j + 1])
                if day_start_s <= t_in < day_start_s + 86400.0:
                    sats.append(s)
                    starts.append(t_in)
                    ends.append(t_out)
        return np.array(sats, dtype=np.int32), np.array(starts), np.array(ends)

    # -- cache -------------------------------------------------------------------------------------
    def _cache_path(self, kind: str, day_start_s: float, extra: bytes) -> Path:
        h = hashlib.sha256()
        c = self.constellation
        h.update(
            json.dumps(
                {
                    "v": _CACHE_VERSION,
                    "spec": self.spec.model_dump(),
                    "epoch": c.epoch_s,
                    "day": day_start_s,
                    "n": len(c),
                },
                sort_keys=True,
            ).encode()
        )
        if self.spec.tle_file:
            h.update("".join(f"{s.satnum}{s.jdsatepoch}{s.no_kozai}" for s in c.satrecs).encode())
        h.update(extra)
        return self.cache_dir / f"{kind}-{h.hexdigest()[:24]}.npz"


def _cross(t0: float, t1: float, d0: float, d1: float) -> float:
    frac = -d0 / (d1 - d0) if d1 != d0 else 0.5
    return float(t0 + min(max(frac, 0.0), 1.0) * (t1 - t0))


def _empty_runs() -> dict[str, np.ndarray]:
    z = np.zeros(0)
    return {"site": z.astype(np.int32), "sat": z.astype(np.int32), "start_s": z, "end_s": z, "max_elevation_deg": z}


def _save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npz.tmp")
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **arrays)
        os.replace(tmp, path)
    except OSError:
        pass  # the cache is an optimisation only
