"""Energy and carbon: grid carbon intensity with a daily profile, and an energy ledger whose accounts close.

Attribution: a request gets ``active_w / slots * compute_s * PUE`` (the device's power share while it runs) plus
its transmission energy. Idle energy is ``idle_w / slots * PUE`` for every idle slot-second. The device draws
``PUE * (idle_w + (active_w - idle_w) * busy_slots / slots)``, so request + idle energy equals the integral of
power; ``EnergyLedger.report`` computes both sides independently (the conservation test compares them).
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from maas.tiers.spec import EnergySpec, GridSpec

__all__ = ["carbon_g_per_j", "EnergyLedger", "TierEnergy"]

_J_PER_KWH = 3.6e6


def carbon_g_per_j(grid: GridSpec, utc_offset_h: float, t_s: float) -> float:
    """Grid carbon intensity at ``t_s`` in g/J: cosine daily profile peaking at ``carbon_peak_h`` local."""
    local_h = ((t_s / 3600.0) + utc_offset_h) % 24.0
    swing = grid.carbon_daily_amplitude * math.cos(2 * math.pi * (local_h - grid.carbon_peak_h) / 24.0)
    return grid.carbon_g_per_kwh * (1.0 + swing) / _J_PER_KWH


@dataclass
class TierEnergy:
    """Energy of one tier over a report interval (joules)."""

    request_compute_j: float = 0.0
    transmission_j: float = 0.0
    idle_j: float = 0.0
    integral_j: float = 0.0
    requests: int = 0
    devices: int = 0

    def as_dict(self) -> dict[str, float]:
        return dict(self.__dict__)


class EnergyLedger:
    """Records requests per device and reports energy per tier over an interval."""

    def __init__(self) -> None:
        self._runs: dict[tuple[str, str], list[tuple[float, float, float]]] = defaultdict(list)
        self._specs: dict[str, tuple[EnergySpec, int]] = {}

    def record(
        self,
        tier: str,
        device: str,
        spec: EnergySpec,
        slots: int,
        start_s: float,
        compute_s: float,
        transmission_j: float,
    ) -> float:
        """Record one request; returns its attributed compute energy in joules."""
        self._specs[tier] = (spec, slots)
        self._runs[(tier, device)].append((start_s, compute_s, transmission_j))
        return spec.active_w / slots * compute_s * spec.pue

    def report(self, t0_s: float, t1_s: float) -> dict[str, TierEnergy]:
        out: dict[str, TierEnergy] = defaultdict(TierEnergy)
        span = max(t1_s - t0_s, 0.0)
        for (tier, _device), runs in self._runs.items():
            spec, slots = self._specs[tier]
            arr = np.array(runs, dtype=float).reshape(-1, 3)
            rel = arr[:, 0] - t0_s  # relative times keep sub-microsecond durations exact
            s, e = np.clip(rel, 0.0, span), np.clip(rel + arr[:, 1], 0.0, span)
            busy_s = np.maximum(e - s, 0.0)
            acc = out[tier]
            acc.devices += 1
            inside = (arr[:, 0] >= t0_s) & (arr[:, 0] < t1_s)
            acc.requests += int(inside.sum())
            acc.transmission_j += float(arr[inside, 2].sum())
            acc.request_compute_j += float(spec.active_w / slots * busy_s.sum() * spec.pue)
            acc.idle_j += float(spec.idle_w / slots * (slots * span - busy_s.sum()) * spec.pue)
            acc.integral_j += _power_integral(s, e, spec, slots, 0.0, span)
        return dict(out)


def _power_integral(s: np.ndarray, e: np.ndarray, spec: EnergySpec, slots: int, t0: float, t1: float) -> float:
    """Integral of the device's step-function power over [t0, t1] (event sweep over starts and ends)."""
    times = np.concatenate([[t0], s, e, [t1]])
    steps = np.concatenate([[0], np.ones_like(s), -np.ones_like(e), [0]])
    order = np.argsort(times, kind="stable")
    times, busy = times[order], np.cumsum(steps[order])
    power_w = spec.pue * (spec.idle_w + (spec.active_w - spec.idle_w) * busy[:-1] / slots)
    return float(np.sum(power_w * np.diff(times)))
