"""Satellite battery: state of charge integrated exactly over sunlit/eclipse segments (CosmicBeats-style model).

Net power is piecewise constant: ``solar_w - bus_load_w - idle_w`` in sunlight and ``-(bus_load_w + idle_w)``
in eclipse; the charge is clamped to [0, capacity]. Compute draws (the part of a request above idle power) are
taken at the request's start. Every joule is accounted: ``soc_end - soc_start == solar_in_j - curtailed_j - load_j``.
"""

from __future__ import annotations

from collections.abc import Callable

from maas.tiers.spec import BatterySpec

__all__ = ["Battery"]

EclipseLookup = Callable[[float, float], list[tuple[float, float]]]


class Battery:
    """One satellite's battery, advanced lazily to the times it is asked about (time never goes back).

    With ``keep_history`` it records the exact piecewise-linear curve: eclipse edges, draws, full/empty kinks.
    """

    __slots__ = (
        "spec",
        "idle_w",
        "eclipses",
        "t_s",
        "soc_j",
        "solar_in_j",
        "curtailed_j",
        "load_j",
        "unserved_j",
        "history",
    )

    def __init__(
        self, spec: BatterySpec, idle_w: float, eclipses: EclipseLookup, t0_s: float, keep_history: bool = False
    ) -> None:
        self.spec = spec
        self.idle_w = idle_w
        self.eclipses = eclipses
        self.t_s = t0_s
        self.soc_j = spec.capacity_j if spec.initial_j is None else spec.initial_j
        self.solar_in_j = 0.0
        self.curtailed_j = 0.0
        self.load_j = 0.0
        self.unserved_j = 0.0
        self.history: list[tuple[float, float]] | None = [(t0_s, self.soc_j)] if keep_history else None

    def at(self, t_s: float) -> float:
        """State of charge in joules at ``t_s`` (advances the battery if ``t_s`` is later than its clock)."""
        if t_s > self.t_s:
            self._advance(t_s)
        return self.soc_j

    def draw(self, t_s: float, energy_j: float) -> float:
        """Take ``energy_j`` for compute at ``t_s``; returns the state of charge after it."""
        self.at(t_s)
        taken = min(energy_j, self.soc_j)
        self.soc_j -= taken
        self.load_j += taken
        self.unserved_j += energy_j - taken
        if self.history is not None:
            self.history.append((max(t_s, self.t_s), self.soc_j))
        return self.soc_j

    def _advance(self, t1_s: float) -> None:
        t = self.t_s
        load_w = self.spec.bus_load_w + self.idle_w
        for e0, e1 in self.eclipses(t, t1_s):
            if e0 > t:
                self._segment(t, min(e0, t1_s), self.spec.solar_w, load_w)
                t = min(e0, t1_s)
            if e1 > t:
                self._segment(t, min(e1, t1_s), 0.0, load_w)
                t = min(e1, t1_s)
        if t1_s > t:
            self._segment(t, t1_s, self.spec.solar_w, load_w)
        self.t_s = t1_s

    def _segment(self, t0: float, t1: float, solar_w: float, load_w: float) -> None:
        dt = t1 - t0
        if dt <= 0:
            return
        cap = self.spec.capacity_j
        gain, loss = solar_w * dt, load_w * dt
        new = self.soc_j + gain - loss
        kink = None
        if new > cap:
            kink = (t0 + (cap - self.soc_j) / (solar_w - load_w), cap)
            self.curtailed_j += new - cap
            new = cap
        if new < 0.0:
            kink = (t0 + self.soc_j / (load_w - solar_w), 0.0)
            self.unserved_j += -new
            loss += new
            new = 0.0
        if self.history is not None and kink is not None and t0 < kink[0] < t1:
            self.history.append(kink)
        self.solar_in_j += gain
        self.load_j += loss
        self.soc_j = new
        if self.history is not None:
            self.history.append((t1, new))
