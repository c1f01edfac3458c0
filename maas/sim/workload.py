"""Request traces for the simulator: arrival times (Poisson, gamma with a burstiness CV, diurnal, replay) and the
site, tenant and model of each request, drawn once per scenario so every policy sees the same trace.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["Trace", "arrival_times", "read_trace_times", "build_trace"]


@dataclass
class Trace:
    """One request per index: arrival (s from the scenario start), site, tenant and model indices."""

    t_s: np.ndarray
    site: np.ndarray
    tenant: np.ndarray
    model: np.ndarray

    def __len__(self) -> int:
        return len(self.t_s)


def arrival_times(
    kind: str,
    rate_rps: float,
    duration_s: float,
    rng: np.random.Generator,
    *,
    cv: float = 1.0,
    amplitude: float = 0.0,
    period_s: float = 86400.0,
    phase_s: float = 0.0,
    flash_start_s: float = 0.0,
    flash_s: float = 0.0,
    flash_factor: float = 1.0,
) -> np.ndarray:
    """Arrival times in [0, duration_s): ``poisson``; ``gamma`` (inter-arrivals with coefficient of variation
    ``cv``); ``diurnal`` (Poisson with rate ``rate * (1 + amplitude * sin(2 pi (t + phase) / period))``, by
    thinning); ``flash`` (a flash crowd: Poisson at ``rate``, and ``rate * flash_factor`` in
    ``[flash_start_s, flash_start_s + flash_s)``)."""
    if rate_rps <= 0 or duration_s <= 0:
        return np.zeros(0)
    expected = rate_rps * duration_s
    size = int(expected + 6 * math.sqrt(expected) + 16)
    if kind == "poisson" or (kind == "gamma" and abs(cv - 1.0) < 1e-12):
        gaps = rng.exponential(1.0 / rate_rps, size)
    elif kind == "gamma":
        shape = 1.0 / (cv * cv)
        gaps = rng.gamma(shape, 1.0 / (rate_rps * shape), size)
    elif kind == "diurnal":
        peak = rate_rps * (1.0 + abs(amplitude))
        t = np.cumsum(rng.exponential(1.0 / peak, int(peak * duration_s + 6 * math.sqrt(peak * duration_s) + 16)))
        t = t[t < duration_s]
        rate_t = rate_rps * (1.0 + amplitude * np.sin(2.0 * math.pi * (t + phase_s) / period_s))
        keep = rng.random(len(t)) * peak < rate_t
        return t[keep]
    elif kind == "flash":
        base = arrival_times("poisson", rate_rps, duration_s, rng)
        end = min(flash_start_s + flash_s, duration_s)
        if flash_factor <= 1.0 or end <= flash_start_s:
            return base
        extra = flash_start_s + arrival_times("poisson", rate_rps * (flash_factor - 1.0), end - flash_start_s, rng)
        return np.sort(np.concatenate([base, extra]))
    else:
        raise ValueError(f"unknown arrival kind {kind!r}")
    t = np.cumsum(gaps)
    while t[-1] < duration_s:  # rare: top up
        more = np.cumsum(rng.exponential(1.0 / rate_rps, size)) + t[-1]
        t = np.concatenate([t, more])
    return t[t < duration_s]


def read_trace_times(path: Path) -> np.ndarray:
    """Arrival times from a CSV with a ``t_s`` column (seconds from the start), sorted."""
    with path.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    if not rows or "t_s" not in rows[0]:
        raise ValueError("trace CSV needs a t_s column")
    t = np.array([float(r["t_s"]) for r in rows])
    if (t < 0).any():
        raise ValueError("trace t_s must be >= 0")
    return np.sort(t)


def build_trace(
    t_s: np.ndarray,
    site_weights: np.ndarray,
    tenant_weights: np.ndarray,
    tenant_model_weights: list[np.ndarray],
    rng: np.random.Generator,
) -> Trace:
    """Attach a site, tenant and model to each arrival (weights need not be normalised)."""
    n = len(t_s)
    site = rng.choice(len(site_weights), size=n, p=site_weights / site_weights.sum())
    tenant = rng.choice(len(tenant_weights), size=n, p=tenant_weights / tenant_weights.sum())
    model = np.zeros(n, dtype=np.int64)
    for j, w in enumerate(tenant_model_weights):
        idx = np.nonzero(tenant == j)[0]
        if len(idx):
            model[idx] = rng.choice(len(w), size=len(idx), p=w / w.sum())
    return Trace(t_s.astype(float), site.astype(np.int64), tenant.astype(np.int64), model)
