"""Orbital checks against published figures: period, eclipse fraction, pass length, slant range."""

from __future__ import annotations

import numpy as np
import pytest

from maas.tiers.contacts import ContactEngine
from maas.tiers.orbits import (
    EARTH_RADIUS_KM,
    Constellation,
    beta_angle_deg,
    eclipse_fraction_theory,
    slant_range_km,
    sun_unit_eci,
)
from maas.tiers.spec import ConstellationSpec

DAY = 1795219200.0  # 2026-11-21T00:00:00Z


def _shell(planes: int, per_plane: int, inclination: float = 53.0, mask: float = 25.0) -> Constellation:
    spec = ConstellationSpec(
        altitude_km=550,
        inclination_deg=inclination,
        planes=planes,
        sats_per_plane=per_plane,
        phasing=0,
        elevation_mask_deg=mask,
    )
    return Constellation(spec, DAY)


def test_orbital_period_at_550_km_is_95_6_min() -> None:
    c = _shell(1, 1)
    t = DAY + np.arange(0, 86400, 5.0)
    r, _ = c.propagate_teme(t)
    z = r[0, :, 2]
    up = np.flatnonzero((z[:-1] < 0) & (z[1:] >= 0))
    crossings = t[up] - z[up] * (t[up + 1] - t[up]) / (z[up + 1] - z[up])
    period_min = float(np.mean(np.diff(crossings))) / 60.0
    assert len(crossings) >= 14
    assert period_min == pytest.approx(95.6, abs=0.3)


def test_slant_range_at_25_deg_is_1123_km() -> None:
    assert float(slant_range_km(25.0, 550.0)) == pytest.approx(1123.0, abs=3.0)
    assert float(slant_range_km(90.0, 550.0)) == pytest.approx(550.0, abs=1e-6)


def _eclipse_fractions(c: Constellation) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Measured eclipse fraction per satellite over one day, and the min/max |beta| over that day."""
    engine = ContactEngine(c, use_disk=False)
    frac = np.zeros(len(c))
    for day in (DAY - 86400.0, DAY):  # an eclipse belongs to the day it starts in
        sats, starts, ends = engine.eclipses(day)
        np.add.at(frac, sats, np.clip(np.minimum(ends, DAY + 86400.0) - np.maximum(starts, DAY), 0.0, None))
    t = DAY + np.arange(0, 86400, 600.0)
    r, v = c.propagate_teme(t)
    beta = np.abs(beta_angle_deg(r, v, sun_unit_eci(t)[None, :, :]))
    return frac / 86400.0, beta.min(axis=1), beta.max(axis=1)


def test_eclipse_fraction_at_beta_zero_is_0_372() -> None:
    frac, bmin, bmax = _eclipse_fractions(_shell(36, 1))
    k = int(np.argmin(bmax))
    assert bmax[k] < 6.0  # a plane close to the Sun direction exists
    assert frac[k] == pytest.approx(0.372, abs=0.01)


def test_eclipse_fraction_follows_beta_and_vanishes_above_67_deg() -> None:
    frac, bmin, bmax = _eclipse_fractions(_shell(36, 1, inclination=97.6))
    high = bmin > 68.0
    assert high.any()
    assert np.all(frac[high] == 0.0)
    steady = (bmax - bmin < 2.0) & (bmax < 62.0)
    assert steady.sum() >= 5
    for k in np.flatnonzero(steady):
        beta = 0.5 * (bmin[k] + bmax[k])
        assert frac[k] == pytest.approx(eclipse_fraction_theory(557.0, beta), abs=0.01)


def test_longest_pass_above_25_deg_is_about_4_5_min_and_edges_sit_on_the_mask() -> None:
    c = _shell(24, 22)
    engine = ContactEngine(c, use_disk=False)
    lat, lon = 30.0, 31.0
    w = engine.windows(np.array([lat]), np.array([lon]), DAY)
    dur_min = (w["end_s"] - w["start_s"]) / 60.0
    assert len(dur_min) > 100
    assert 4.2 <= dur_min.max() <= 5.2
    assert w["max_elevation_deg"][np.argmax(dur_min)] > 75.0
    # independent check: propagate the satellite to its window edges and compute its elevation directly
    site = EARTH_RADIUS_KM * np.array(
        [
            np.cos(np.radians(lat)) * np.cos(np.radians(lon)),
            np.cos(np.radians(lat)) * np.sin(np.radians(lon)),
            np.sin(np.radians(lat)),
        ]
    )
    for k in np.argsort(-dur_min)[:20]:
        for t_edge in (w["start_s"][k], w["end_s"][k]):
            r, _ = c.propagate_teme(np.array([t_edge]))
            ecef = Constellation.teme_to_ecef(r[w["sat"][k]][None], np.array([t_edge]))[0, 0]
            d = ecef - site
            el = np.degrees(np.arcsin(np.dot(d, site / EARTH_RADIUS_KM) / np.linalg.norm(d)))
            assert el == pytest.approx(25.0, abs=0.3)
