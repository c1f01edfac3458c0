"""``EstimateCache``: the one estimate cache of the platform, for the live gateway and the simulator alike.

The reuse rule (``maas.tiers.world.reuse_until_s``): estimates made at ``t_s`` are reused for ``refresh_s`` of
clock time, never past any estimate's ``valid_until_s`` (a contact window's end, a handover spike's edge).
``refresh_s`` 0 asks the tier models on every request.

The affine host-time trick: device time, energy, carbon and battery-after are affine in the host compute time h
(the tier models charge compute linearly); everything else does not depend on h. A ``_Line`` keeps the estimate
at the h first asked for and, only when another h is asked for (the gateway learns host times), a second point,
so an estimate at any h is ``dataclasses.replace`` of the first with two multiplications, not a tier-model call.
Availability is taken from the first point (a battery reserve threshold is the one non-affine part; the caller
asks at the host time it expects, so the threshold is checked there).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import replace

from maas.placement.tier_models import TierModels
from maas.tiers.world import TierEstimate, reuse_until_s

__all__ = ["EstimateCache", "EstimateSet", "outage_estimate"]

_MAX_ENTRIES = 65536


def outage_estimate(e: TierEstimate, reason: str = "fault: outage") -> TierEstimate:
    """``e`` made unavailable by an injected fault (the figures stay, for explanations)."""
    return replace(e, available=False, reason=reason)


class _Line:
    """One tier's estimate for one (site, bytes, time) as a function of host compute time."""

    __slots__ = ("models", "site", "tier", "input_bytes", "output_bytes", "t_s", "h1", "first", "slope", "until_s")

    def __init__(self, models: TierModels, site: str, tier: str, input_bytes: int, output_bytes: int, t_s: float,
                 host_ms: float, refresh_s: float) -> None:
        self.models, self.site, self.tier = models, site, tier
        self.input_bytes, self.output_bytes, self.t_s = input_bytes, output_bytes, t_s
        self.h1 = host_ms
        self.first = models.estimate(site, tier, host_compute_ms=host_ms, input_bytes=input_bytes,
                                     output_bytes=output_bytes, t_s=t_s)
        self.slope: tuple[float, float, float, float | None] | None = None
        self.until_s = reuse_until_s(t_s, refresh_s, (self.first,))

    def _slopes(self) -> tuple[float, float, float, float | None]:
        if self.slope is None:
            h2 = self.h1 + 1.0
            two = self.models.estimate(self.site, self.tier, host_compute_ms=h2, input_bytes=self.input_bytes,
                                       output_bytes=self.output_bytes, t_s=self.t_s)
            one = self.first
            after = None
            if one.battery_after_j is not None and two.battery_after_j is not None:
                after = two.battery_after_j - one.battery_after_j
            self.slope = (two.compute_ms - one.compute_ms, two.energy_j - one.energy_j, two.carbon_g - one.carbon_g,
                          after)
        return self.slope

    def at(self, host_ms: float, network_scale: float = 1.0, compute_scale: float | None = None) -> TierEstimate:
        """The estimate for ``host_ms`` of host compute time; with the live emulation scales, network delays x
        ``network_scale`` and device time ``host + (device - host) x compute_scale``. One constructor call (a
        ``dataclasses.replace`` costs several times more on this path, four per request)."""
        one = self.first
        if host_ms == self.h1:
            compute, energy, carbon, after = one.compute_ms, one.energy_j, one.carbon_g, one.battery_after_j
            if network_scale == 1.0 and compute_scale is None:
                return one
        else:
            d = host_ms - self.h1
            s_compute, s_energy, s_carbon, s_after = self._slopes()
            compute, energy, carbon = one.compute_ms + s_compute * d, one.energy_j + s_energy * d, one.carbon_g + s_carbon * d
            after = one.battery_after_j
            if after is not None and s_after is not None:
                after += s_after * d
        up, down, p99 = one.uplink_ms, one.downlink_ms, one.network_p99_ms
        if network_scale != 1.0:
            up, down = up * network_scale, down * network_scale
            p99 = None if p99 is None else p99 * network_scale
        if compute_scale is not None:
            compute = host_ms + (compute - host_ms) * compute_scale
        return TierEstimate(one.available, one.reason, up, down, compute, energy, carbon, p99, one.window_end_s,
                            one.battery_j, after, one.battery_reserve_j, one.device, one.valid_until_s)

    def energy_carbon(self, host_ms: float) -> tuple[float, float]:
        """Energy (J) and carbon (g) of a request that took ``host_ms`` of host compute time."""
        if host_ms == self.h1:
            return self.first.energy_j, self.first.carbon_g
        d = host_ms - self.h1
        _, s_energy, s_carbon, _ = self._slopes()
        return self.first.energy_j + s_energy * d, self.first.carbon_g + s_carbon * d


class EstimateSet:
    """Every tier's estimate for one request: ``true`` (what will happen on average), ``shown`` (what the router
    sees: biased in bias studies, scaled by the emulation factors), both as ``[(tier, TierEstimate)]`` in the order
    of the tiers asked for, and the ``lines`` behind them (for accounting at the host time actually used)."""

    __slots__ = ("until_s", "true", "shown", "lines", "host_ms")

    def __init__(self, until_s: float, true: list, shown: list, lines: list[_Line], host_ms: Sequence[float] = ()
                 ) -> None:
        self.until_s = until_s
        self.true = true
        self.shown = shown
        self.lines = lines
        self.host_ms = host_ms


class EstimateCache:
    """Estimates of the tier models for a request, reused by the one rule, for both clocks.

    ``bias`` (simulation studies): the router is shown uplink, downlink, compute and network p99 x (1 + bias).
    ``network_scale``/``compute_scale`` (live emulation): what is shown *and* true is scaled: network delays by
    the first; device time becomes ``host + (device - host) x compute_scale``.
    ``exact_host`` (the simulator, whose host times are fixed per model): a line per host time too, so every
    estimate is the tier models' own answer at that host time (the gateway, whose host times are learned, shares
    one line per (site, tier, bytes) across host times).
    """

    def __init__(self, models: TierModels, *, refresh_s: float, bias: float = 0.0, network_scale: float = 1.0,
                 compute_scale: float = 1.0, exact_host: bool = False, max_entries: int = _MAX_ENTRIES) -> None:
        if refresh_s < 0:
            raise ValueError(f"refresh_s must be >= 0, got {refresh_s}")
        self.models = models
        self.refresh_s = refresh_s
        self.bias = bias
        self.network_scale = network_scale
        self.compute_scale = compute_scale
        self._scaled = network_scale != 1.0 or compute_scale != 1.0
        self._exact_host = exact_host
        self._max = max_entries
        self._lines: dict[tuple, _Line] = {}
        self._sets: dict[Hashable, EstimateSet] = {}

    def line(self, site: str, tier: str, input_bytes: int, output_bytes: int, host_ms: float,
             now_s: float) -> _Line:
        """The cached line of ``tier`` for ``site`` (made at ``host_ms`` when it has to be made)."""
        key = (site, tier, input_bytes, output_bytes, host_ms) if self._exact_host else (
            site, tier, input_bytes, output_bytes)
        line = self._lines.get(key)
        if line is not None and line.t_s <= now_s < line.until_s:
            return line
        line = _Line(self.models, site, tier, input_bytes, output_bytes, now_s, host_ms, self.refresh_s)
        if self.refresh_s > 0:
            if len(self._lines) >= self._max:
                self._lines.clear()
            self._lines[key] = line
        return line

    def estimates(self, key: Hashable, site: str, tiers: Sequence[str], host_ms: Sequence[float],
                  input_bytes: int, output_bytes: int, now_s: float) -> EstimateSet:
        """Every tier's estimate for a request from ``site``; ``host_ms[k]`` is the host time on ``tiers[k]``.

        ``key`` names (site, tiers, bytes) for the caller: equal keys must mean equal arguments but for the host
        times. A cached set asked for at other host times (the gateway learns them every request) is re-evaluated
        on its own lines (``_Line.at``) and replaces the entry, so a learned host time neither asks the tier
        models nor grows the cache. With ``exact_host`` the lines depend on the host time: the key must name it.
        """
        hit = self._sets.get(key)
        if hit is not None and now_s < hit.until_s and (not hit.lines or hit.lines[0].t_s <= now_s):
            if hit.host_ms == host_ms or self._exact_host:
                return hit
            entry = self._evaluate(tiers, hit.lines, host_ms, hit.until_s)
            self._sets[key] = entry
            return entry
        lines = [self.line(site, t, input_bytes, output_bytes, h, now_s) for t, h in zip(tiers, host_ms, strict=True)]
        entry = self._evaluate(tiers, lines, host_ms, min(line.until_s for line in lines) if lines else now_s)
        if self.refresh_s > 0:
            if len(self._sets) >= self._max:
                self._sets.clear()
            self._sets[key] = entry
        return entry

    def _evaluate(self, tiers: Sequence[str], lines: list[_Line], host_ms: Sequence[float], until_s: float
                  ) -> EstimateSet:
        if self._scaled:
            ns, cs = self.network_scale, self.compute_scale
            true = [(t, line.at(h, ns, cs)) for t, line, h in zip(tiers, lines, host_ms, strict=True)]
        else:
            true = [(t, line.at(h)) for t, line, h in zip(tiers, lines, host_ms, strict=True)]
        shown = [(t, self._biased(e)) for t, e in true] if self.bias else true
        return EstimateSet(until_s, true, shown, lines, host_ms)

    def _biased(self, e: TierEstimate) -> TierEstimate:
        f = 1.0 + self.bias
        p99 = e.network_p99_ms
        return replace(e, uplink_ms=e.uplink_ms * f, downlink_ms=e.downlink_ms * f, compute_ms=e.compute_ms * f,
                       network_p99_ms=None if p99 is None else p99 * f)
