"""Bytes over contact windows: the pure arithmetic of uplinking a model to the satellite tier.

    windows = GroundStationWindows(tier, epoch_s, station).windows(from_s)   # predicted by the tier models
    plan = plan_uplink(windows, size_bytes, rate_bps, setup_s, start_s)      # -> UplinkPlan
    plan.bytes_at(t_s), plan.eta_s, plan.used_at(t_s), plan.next_window(t_s)

The rule, per window in time order (a window is one satellite tracked above the station's mask; the serving
rule of ``maas.tiers.satellite``: stay on a satellite until it sets, then take the one that stays longest):
1. The window is clipped to start no earlier than the transfer (or its resumption).
2. The first ``setup_s`` of it carry no bytes (acquisition, link and session setup); a window shorter than that
   is not used.
3. Then bytes flow at ``rate_bps / 8`` per second until the window ends or the last byte is sent:
   ``bytes in window = floor((end - start - setup_s) x rate_bps / 8)`` (fewer in the last window).
4. ``eta_s`` is the moment the last byte is sent: ``send_start + remaining_bytes x 8 / rate_bps`` in the last
   window.
Bytes sent in one window stay on the constellation (relayed over inter-satellite links [U]); the next window
resumes at the next byte. Used by ``maas.registry.uplink`` (live, wall clock) and ``maas.sim`` (virtual time).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from maas.tiers.spec import GroundStationSpec, TierSpec
from maas.tiers.world import iso_utc

__all__ = ["ContactWindow", "WindowUse", "UplinkPlan", "plan_uplink", "GroundStationWindows", "periodic_windows"]

_DAY_S = 86400.0


@dataclass(frozen=True, slots=True)
class ContactWindow:
    """A predicted contact between a ground station and one satellite: [start_s, end_s)."""

    start_s: float
    end_s: float
    sat: str | None = None
    station: str | None = None

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s

    def to_dict(self) -> dict:
        return {
            "start_s": self.start_s,
            "end_s": self.end_s,
            "start": iso_utc(self.start_s),
            "end": iso_utc(self.end_s),
            "sat": self.sat,
            "station": self.station,
        }


@dataclass(frozen=True, slots=True)
class WindowUse:
    """What one window carries: bytes flow in [send_start_s, send_end_s); ``bytes_after`` counts all so far."""

    window: ContactWindow
    send_start_s: float
    send_end_s: float
    bytes_sent: int
    bytes_after: int

    def to_dict(self) -> dict:
        return {
            **self.window.to_dict(),
            "send_start_s": self.send_start_s,
            "send_end_s": self.send_end_s,
            "bytes": self.bytes_sent,
            "bytes_after": self.bytes_after,
        }


@dataclass(frozen=True)
class UplinkPlan:
    """The schedule of one transfer (or of its resumption at ``start_s`` with ``bytes_done`` already there)."""

    size_bytes: int
    rate_bps: float
    setup_s: float
    start_s: float
    bytes_done: int
    uses: tuple[WindowUse, ...]
    eta_s: float | None  # None: the windows given (the horizon) end before the last byte

    @property
    def complete(self) -> bool:
        return self.eta_s is not None

    def bytes_at(self, t_s: float) -> int:
        """Bytes on the satellite side at ``t_s`` (``bytes_done`` before the first window)."""
        k = bisect.bisect_right(self._starts, t_s) - 1
        if k < 0:
            return self.bytes_done
        u = self.uses[k]
        if t_s >= u.send_end_s:
            return u.bytes_after
        before = u.bytes_after - u.bytes_sent
        return before + min(u.bytes_sent, int(math.floor((t_s - u.send_start_s) * self.rate_bps / 8.0)))

    def used_at(self, t_s: float) -> list[WindowUse]:
        """Windows that have carried bytes by ``t_s``; the current one cut at ``t_s`` (its bytes so far)."""
        k = bisect.bisect_right(self._starts, t_s)
        out = list(self.uses[:k])
        if out and t_s < out[-1].send_end_s:
            u = out[-1]
            now = self.bytes_at(t_s)
            out[-1] = WindowUse(u.window, u.send_start_s, t_s, now - (u.bytes_after - u.bytes_sent), now)
        return out

    def next_window(self, t_s: float) -> WindowUse | None:
        """The window sending at ``t_s``, else the next one the plan uses; None once the transfer is done."""
        for u in self.uses[max(bisect.bisect_right(self._starts, t_s) - 1, 0) :]:
            if t_s < u.send_end_s:
                return u
        return None

    @property
    def _starts(self) -> list[float]:
        got = self.__dict__.get("_starts_cache")
        if got is None:
            got = [u.send_start_s for u in self.uses]
            object.__setattr__(self, "_starts_cache", got)
        return got


def plan_uplink(
    windows: Iterable[ContactWindow],
    size_bytes: int,
    rate_bps: float,
    setup_s: float,
    start_s: float,
    bytes_done: int = 0,
) -> UplinkPlan:
    """Schedule ``size_bytes - bytes_done`` bytes over ``windows`` (in time order) from ``start_s``."""
    if size_bytes < 0 or not 0 <= bytes_done <= size_bytes:
        raise ValueError(f"bytes_done {bytes_done} must be within 0..size_bytes ({size_bytes})")
    if rate_bps <= 0 or setup_s < 0:
        raise ValueError("rate_bps must be > 0 and setup_s >= 0")
    per_s = rate_bps / 8.0
    done = bytes_done
    uses: list[WindowUse] = []
    eta = start_s if done >= size_bytes else None
    last_end = start_s
    for w in windows:
        if eta is not None:
            break
        begin = max(w.start_s, start_s, last_end)  # windows of consecutive days may overlap at midnight
        if w.end_s <= begin:
            continue
        last_end = w.end_s
        send_start = begin + setup_s
        if send_start >= w.end_s:
            continue
        cap = int(math.floor((w.end_s - send_start) * per_s))
        if cap <= 0:
            continue
        left = size_bytes - done
        if cap >= left:
            end = send_start + left / per_s
            uses.append(WindowUse(w, send_start, end, left, size_bytes))
            done, eta = size_bytes, end
        else:
            done += cap
            uses.append(WindowUse(w, send_start, w.end_s, cap, done))
    return UplinkPlan(size_bytes, rate_bps, setup_s, start_s, bytes_done, tuple(uses), eta)


def periodic_windows(
    period_s: float, up_s: float, from_s: float, epoch_s: float = 0.0, station: str | None = None
) -> Iterator[ContactWindow]:
    """Windows [epoch + k period, epoch + k period + up_s) from the one containing or following ``from_s``
    (the table worlds' contact rule, ``maas.sim.world.TableTier``)."""
    k = math.floor((from_s - epoch_s) / period_s)
    while True:
        s = epoch_s + k * period_s
        if s + up_s > from_s:
            yield ContactWindow(s, s + up_s, None, station)
        k += 1


class GroundStationWindows:
    """Predicted contact windows of one ground station with the satellite tier's constellation (SGP4)."""

    def __init__(
        self,
        tier: TierSpec,
        epoch_s: float,
        station: GroundStationSpec,
        *,
        horizon_days: float = 7.0,
        cache_dir: Path | None = None,
        base_dir: Path | None = None,
    ) -> None:
        from maas.tiers.satellite import SatelliteTier  # propagation is costly: built only when asked for

        assert tier.constellation is not None
        spec = tier.constellation
        if station.elevation_mask_deg is not None:
            spec = spec.model_copy(update={"elevation_mask_deg": station.elevation_mask_deg})
        self.station = station
        self.horizon_days = horizon_days
        self._sat = SatelliteTier(
            tier.model_copy(update={"constellation": spec}), epoch_s, epoch_s, cache_dir=cache_dir, base_dir=base_dir
        )

    def windows(self, from_s: float, to_s: float | None = None) -> Iterator[ContactWindow]:
        """Windows ending after ``from_s`` (and starting before ``to_s``, default ``horizon_days`` later), in order."""
        until = from_s + self.horizon_days * _DAY_S if to_s is None else to_s
        day = math.floor(from_s / _DAY_S) * _DAY_S - _DAY_S  # a pass may start the day before
        st, names = self.station, self._sat.names
        while day < until:
            seg = self._sat.segments(-1, st.lat_deg, st.lon_deg, day)
            for s, e, sat in zip(seg.start, seg.end, seg.sat, strict=True):
                if e > from_s and s < until:
                    yield ContactWindow(s, e, names[sat], st.name)
            day += _DAY_S
