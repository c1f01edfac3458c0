"""Orbital mechanics on top of SGP4: Walker-delta constellations, Earth-fixed positions, the Sun, eclipses.

Satellites are built from their elements with ``sgp4.api.Satrec.sgp4init`` (or read from a TLE file) and
propagated together with ``SatrecArray`` (vectorised C++). Frames: SGP4 gives TEME; Earth-fixed positions use a
rotation by GMST (IAU 1982; polar motion and the equation of the equinoxes are ignored, < 1 km here). The Sun
direction is the Astronomical Almanac low-precision formula (~0.01 deg, 1950-2050). Eclipse uses a cylindrical
Earth shadow; geometry on a spherical Earth of radius 6371 km.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sgp4.api import WGS72, Satrec, SatrecArray

from maas.tiers.spec import ConstellationSpec

__all__ = [
    "EARTH_RADIUS_KM",
    "MU_KM3_S2",
    "C_KM_S",
    "Constellation",
    "gmst_rad",
    "sun_unit_eci",
    "in_shadow",
    "slant_range_km",
    "coverage_half_angle_rad",
    "elevation_from_cos_rad",
    "eclipse_fraction_theory",
    "beta_angle_deg",
]

EARTH_RADIUS_KM = 6371.0
MU_KM3_S2 = 398600.8  # WGS-72, the constants SGP4 uses
WGS72_RADIUS_KM = 6378.135
C_KM_S = 299792.458
_JD_UNIX = 2440587.5
_JD_SGP4_EPOCH0 = 2433281.5  # sgp4init's epoch is days since 1949-12-31 00:00 UT


def _jd(t_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    days = np.asarray(t_s, dtype=float) / 86400.0
    whole = np.floor(days)
    return _JD_UNIX + whole, days - whole


def gmst_rad(t_s: np.ndarray | float) -> np.ndarray:
    """Greenwich mean sidereal time (IAU 1982) at UNIX time ``t_s``."""
    jd_whole, frac = _jd(np.asarray(t_s))
    tu = (jd_whole - 2451545.0 + frac) / 36525.0
    sec = 67310.54841 + (876600.0 * 3600 + 8640184.812866) * tu + 0.093104 * tu**2 - 6.2e-6 * tu**3
    return np.mod(np.radians(sec / 240.0), 2 * np.pi)


def sun_unit_eci(t_s: np.ndarray | float) -> np.ndarray:
    """Unit vector to the Sun in an Earth-centred inertial (equator of date) frame, shape (..., 3)."""
    jd_whole, frac = _jd(np.asarray(t_s))
    n = jd_whole - 2451545.0 + frac
    mean_lon = np.radians(np.mod(280.460 + 0.9856474 * n, 360.0))
    g = np.radians(np.mod(357.528 + 0.9856003 * n, 360.0))
    ecl_lon = mean_lon + np.radians(1.915) * np.sin(g) + np.radians(0.020) * np.sin(2 * g)
    eps = np.radians(23.439 - 4.0e-7 * n)
    return np.stack([np.cos(ecl_lon), np.cos(eps) * np.sin(ecl_lon), np.sin(eps) * np.sin(ecl_lon)], axis=-1)


def in_shadow(r_km: np.ndarray, sun_unit: np.ndarray, earth_radius_km: float = EARTH_RADIUS_KM) -> np.ndarray:
    """Cylindrical-shadow test: behind the Earth and within one Earth radius of the Sun-Earth axis."""
    along = np.sum(r_km * sun_unit, axis=-1)
    perp2 = np.sum(r_km * r_km, axis=-1) - along**2
    return (along < 0) & (perp2 < earth_radius_km**2)


def eclipse_fraction_theory(altitude_km: float, beta_deg: float, earth_radius_km: float = EARTH_RADIUS_KM) -> float:
    """Cylindrical-shadow eclipse fraction of a circular orbit: arccos(sqrt(h^2+2Rh)/((R+h) cos beta))/pi."""
    r = earth_radius_km + altitude_km
    x = np.sqrt(altitude_km**2 + 2 * earth_radius_km * altitude_km) / (r * np.cos(np.radians(beta_deg)))
    return float(np.arccos(x) / np.pi) if x < 1 else 0.0


def beta_angle_deg(r_km: np.ndarray, v_km_s: np.ndarray, sun_unit: np.ndarray) -> np.ndarray:
    """Angle between the orbit plane (normal r x v) and the Sun direction, in degrees."""
    h = np.cross(r_km, v_km_s)
    h /= np.linalg.norm(h, axis=-1, keepdims=True)
    return np.degrees(np.arcsin(np.clip(np.sum(h * sun_unit, axis=-1), -1.0, 1.0)))


def slant_range_km(
    elevation_deg: np.ndarray | float, altitude_km: float, earth_radius_km: float = EARTH_RADIUS_KM
) -> np.ndarray:
    """Distance from a ground user to a satellite at ``altitude_km`` seen at ``elevation_deg``."""
    e = np.radians(elevation_deg)
    r = earth_radius_km + altitude_km
    return np.sqrt(r**2 - (earth_radius_km * np.cos(e)) ** 2) - earth_radius_km * np.sin(e)


def coverage_half_angle_rad(mask_deg: float, orbit_radius_km: float, earth_radius_km: float = EARTH_RADIUS_KM) -> float:
    """Earth central angle between a user and a satellite seen exactly at the elevation mask."""
    e = np.radians(mask_deg)
    return float(np.pi / 2 - e - np.arcsin(earth_radius_km * np.cos(e) / orbit_radius_km))


def elevation_from_cos_rad(
    cos_psi: np.ndarray, r_km: np.ndarray, earth_radius_km: float = EARTH_RADIUS_KM
) -> np.ndarray:
    """Elevation of a satellite at radius ``r_km`` and central angle psi (given cos psi) from the user."""
    sin_psi = np.sqrt(np.clip(1.0 - cos_psi**2, 0.0, 1.0))
    return np.arctan2(r_km * cos_psi - earth_radius_km, r_km * sin_psi)


class Constellation:
    """A set of SGP4 satellites (Walker delta i: t/p/f from ``spec``, or a TLE file), propagated together."""

    def __init__(self, spec: ConstellationSpec, epoch_s: float, base_dir: Path | None = None) -> None:
        self.spec = spec
        self.epoch_s = float(epoch_s)
        if spec.tle_file:
            self.names, sats = _read_tles(Path(base_dir or ".") / spec.tle_file)
        else:
            self.names, sats = _walker_delta(spec, self.epoch_s)
        self.satrecs = sats
        self._array = SatrecArray(sats)

    def __len__(self) -> int:
        return len(self.satrecs)

    def propagate_teme(self, t_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Positions and velocities (km, km/s) in TEME, shape (n_sat, n_t, 3). Failed points are NaN."""
        jd, fr = _jd(np.asarray(t_s, dtype=float))
        err, r, v = self._array.sgp4(np.atleast_1d(jd), np.atleast_1d(fr))
        bad = err != 0
        if bad.any():
            r[bad] = np.nan
            v[bad] = np.nan
        return r, v

    @staticmethod
    def teme_to_ecef(r_teme: np.ndarray, t_s: np.ndarray) -> np.ndarray:
        """Rotate TEME positions (n_sat, n_t, 3) into the Earth-fixed frame by GMST."""
        th = gmst_rad(np.asarray(t_s, dtype=float))
        c, s = np.cos(th), np.sin(th)
        x, y = r_teme[..., 0], r_teme[..., 1]
        return np.stack([c * x + s * y, -s * x + c * y, r_teme[..., 2]], axis=-1)


def _walker_delta(spec: ConstellationSpec, epoch_s: float) -> tuple[list[str], list[Satrec]]:
    a_km = WGS72_RADIUS_KM + spec.altitude_km
    n_rad_min = np.sqrt(MU_KM3_S2 / a_km**3) * 60.0
    t, p, f = spec.size, spec.planes, spec.phasing
    epoch_days = epoch_s / 86400.0 + _JD_UNIX - _JD_SGP4_EPOCH0
    names, sats = [], []
    for plane in range(p):
        raan = 2 * np.pi * plane / p
        for k in range(spec.sats_per_plane):
            mean_anomaly = 2 * np.pi * k / spec.sats_per_plane + 2 * np.pi * f * plane / t
            sat = Satrec()
            sat.sgp4init(
                WGS72,
                "i",
                len(sats) + 1,
                epoch_days,
                0.0,
                0.0,
                0.0,
                1e-7,
                0.0,
                np.radians(spec.inclination_deg),
                np.mod(mean_anomaly, 2 * np.pi),
                n_rad_min,
                raan,
            )
            names.append(f"sat-p{plane:02d}-s{k:02d}")
            sats.append(sat)
    return names, sats


def _read_tles(path: Path) -> tuple[list[str], list[Satrec]]:
    lines = [ln.rstrip() for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
    names, sats, i = [], [], 0
    while i < len(lines):
        if lines[i].startswith("1 ") and i + 1 < len(lines):
            name, l1, l2, i = f"sat-{len(sats)}", lines[i], lines[i + 1], i + 2
        else:
            name, l1, l2, i = lines[i].strip(), lines[i + 1], lines[i + 2], i + 3
        names.append(name)
        sats.append(Satrec.twoline2rv(l1, l2))
    return names, sats
