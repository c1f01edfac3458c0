"""``World``: the tiers' stateful models in real or virtual time, behind one fast ``estimate`` call.

Lifecycle:
1. Build with a ``Topology``, a ``Clock`` (``WallClock`` live, ``VirtualClock``/``ManualClock`` virtual) and a seed.
2. For each request the gateway or simulator calls ``estimate(site, tier, ...)`` per tier (availability,
   expected link delays, emulated device time, energy, carbon, battery) and, to emulate the real delay,
   ``sample_link_ms(...)``.
3. After a request runs it calls ``record_request(...)``: energy is booked to the device (and drained from the
   satellite's battery).
4. ``energy_report(t0_s, t1_s)`` closes the accounts: request + idle energy == integral of device power.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from maas.clock import Clock
from maas.errors import InvalidInput
from maas.tiers.energy import EnergyLedger, TierEnergy, carbon_g_per_j
from maas.tiers.grid import GridModel, maintenance_reason
from maas.tiers.network import LinkFault, LinkParams
from maas.tiers.orbits import C_KM_S
from maas.tiers.satellite import SatelliteTier
from maas.tiers.spec import TIER_KINDS, RegionSpec, TierSpec
from maas.tiers.topology import Topology

__all__ = ["World", "TierEstimate", "iso_utc", "reuse_until_s"]


def iso_utc(t_s: float) -> str:
    """ISO-8601 UTC with a Z, to the second."""
    return dt.datetime.fromtimestamp(t_s, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True, slots=True)
class TierEstimate:
    """What one tier offers one request at one time (expected values; ``network_p99_ms`` for chance constraints)."""

    available: bool
    reason: str | None
    uplink_ms: float
    downlink_ms: float
    compute_ms: float
    energy_j: float
    carbon_g: float
    network_p99_ms: float
    window_end_s: float | None = None
    battery_j: float | None = None
    battery_after_j: float | None = None
    battery_reserve_j: float | None = None
    device: str | None = None
    valid_until_s: float | None = None  # the next step change (window end, handover spike edge): reuse no longer


def reuse_until_s(t_s: float, refresh_s: float, estimates) -> float:
    """Until when estimates made at ``t_s`` may be reused: ``refresh_s`` later, never past any estimate's
    ``valid_until_s`` (a contact window's end, a handover spike's edge). The one rule of every estimate cache."""
    until = t_s + refresh_s
    for e in estimates:
        v = e.valid_until_s
        if v is not None and v < until:
            until = v
    return until


class _SiteCtx:
    __slots__ = ("idx", "name", "lat", "lon", "region", "cell", "dc", "links", "dc_region", "devices")

    def __init__(self, **kw: object) -> None:
        for k, v in kw.items():
            setattr(self, k, v)


class World:
    """The four tiers for every site, in the time of ``clock``."""

    def __init__(
        self,
        topology: Topology,
        clock: Clock,
        seed: int = 0,
        cache_dir: Path | str | None = None,
        keep_battery_history: bool = False,
    ) -> None:
        self.topology = topology
        self.clock = clock
        self.seed = seed
        self.start_s = clock.now_s()
        self.tiers: dict[str, TierSpec] = topology.tiers
        self.grid = GridModel(seed)
        self.ledger = EnergyLedger()
        self.faults: list[LinkFault] = []
        self._ctx: dict[str, _SiteCtx] = {}
        self._sat: SatelliteTier | None = None
        self._cache_dir = Path(cache_dir) if cache_dir is not None else None
        self._keep_history = keep_battery_history

    @property
    def satellites(self) -> SatelliteTier:
        """The satellite constellation model (built on first use: propagation takes a moment)."""
        if self._sat is None:
            self._sat = SatelliteTier(
                self.tiers["satellite"],
                self.topology.epoch_s,
                self.start_s,
                self._cache_dir,
                Path(self.topology.file).parent,
                self._keep_history,
            )
        return self._sat

    # -- faults ------------------------------------------------------------------------------------
    def degrade_link(
        self,
        tier: str,
        *,
        start_s: float,
        end_s: float,
        site: str | None = None,
        rtt_factor: float = 1.0,
        bandwidth_factor: float = 1.0,
    ) -> None:
        """Inject a link-degradation fault (RTT x rtt_factor, serialisation x bandwidth_factor)."""
        self._tier(tier)
        self.faults.append(LinkFault(tier, site, start_s, end_s, rtt_factor, bandwidth_factor))

    def _fault(self, site: str, tier: str, t: float) -> tuple[float, float]:
        rf = bf = 1.0
        for f in self.faults:
            if f.tier == tier and f.start_s <= t < f.end_s and (f.site is None or f.site == site):
                rf *= f.rtt_factor
                bf *= f.bandwidth_factor
        return rf, bf

    # -- the hot path ---------------------------------------------------------------------------------
    def estimate(
        self,
        site: str,
        tier: str,
        *,
        host_compute_ms: float,
        precision: str,
        input_bytes: int,
        output_bytes: int,
        t_s: float | None = None,
    ) -> TierEstimate:
        """Expected delays, device time, energy, carbon and availability of ``tier`` for a request from ``site``."""
        t = self.clock.now_s() if t_s is None else t_s
        ctx = self._ctx.get(site) or self._site(site)
        spec = self.tiers.get(tier) or self._tier(tier)
        link = ctx.links.get(tier)
        if link is None:
            return TierEstimate(False, f"{tier}: site {site} has no access", 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
        rf, bf = self._fault(site, tier, t) if self.faults else (1.0, 1.0)
        reason = None
        prop = link.prop_ms
        window_end = battery = after = reserve = None
        compute_ms = host_compute_ms * spec.compute.slowdown_vs_host
        if precision == "int8":
            compute_ms *= spec.compute.int8_time_factor
        en = spec.energy
        compute_j = en.active_w / spec.slots * compute_ms / 1000.0 * en.pue
        region = ctx.dc_region if tier == "ground" else ctx.region
        if tier == "satellite":
            sat = self.satellites
            got = sat.serving(ctx.idx, ctx.lat, ctx.lon, t)
            device = None
            if isinstance(got, tuple):
                sat_i, window_end, slant = got
                device = sat.names[sat_i]
                prop = slant / C_KM_S * 1000.0
                b = sat.battery(sat_i)
                battery = b.at(t)
                reserve = b.spec.reserve_j
                after = battery - (en.active_w - en.idle_w) / spec.slots * compute_ms / 1000.0
                if after < reserve:
                    reason = f"satellite: battery {battery:.0f} J would fall below reserve {reserve:.0f} J"
            else:
                reason = "satellite: no contact" + (f" until {iso_utc(got)}" if got is not None else " today")
            carbon_j = 0.0
        else:
            device = ctx.devices[tier]
            if spec.availability.follows_site_grid:
                why = self.grid.down_reason(ctx.cell, region, t)
                if why is not None:
                    reason = f"{tier}: {why}"
            if reason is None and spec.availability.maintenance:
                why = maintenance_reason(spec.availability.maintenance, region.utc_offset_h, t)
                if why is not None:
                    reason = f"{tier}: {why}"
            th = spec.compute.throttle_per_c
            if th > 0:
                local_h = (t / 3600.0 + region.utc_offset_h) % 24.0
                amb = region.ambient_mean_c + region.ambient_amplitude_c * math.cos(
                    2 * math.pi * (local_h - region.ambient_peak_h) / 24.0
                )
                over = amb - spec.compute.thermal_threshold_c
                if over > 0:
                    compute_ms *= 1.0 + min(spec.compute.throttle_max, th * over)
                    compute_j = en.active_w / spec.slots * compute_ms / 1000.0 * en.pue
            carbon_j = compute_j
        ser_up = input_bytes * link.ms_per_byte_up * bf
        ser_down = output_bytes * link.ms_per_byte_down * bf
        half = link.half_rtt_mean_ms * rf
        up = half + prop + ser_up
        down = half + prop + ser_down
        p99 = 2 * link.half_rtt_p99_ms * rf + 2 * prop + ser_up + ser_down + 2 * link.jitter_p99_ms
        valid_until = window_end
        if tier == "satellite":  # a reassignment spike delays whichever direction falls inside it (known times)
            spikes = link.handover_ms(t)
            up += spikes
            spike_down = link.handover_ms(t + up / 1000.0)
            down += spike_down
            p99 += spikes + spike_down
            edge = link.handover_edge_s(t)
            if edge is not None and (valid_until is None or edge < valid_until):
                valid_until = edge
        tx_j = (input_bytes + output_bytes) * link.j_per_byte
        site_g_per_j = carbon_g_per_j(ctx.region.grid, ctx.region.utc_offset_h, t)
        g_per_j = site_g_per_j if region is ctx.region else carbon_g_per_j(region.grid, region.utc_offset_h, t)
        if tier != "satellite" and region.grid.diesel_backup and spec.availability.follows_site_grid:
            if self.grid.on_diesel(ctx.cell, region, t):
                g_per_j = region.grid.diesel_g_per_kwh / 3.6e6
        return TierEstimate(
            reason is None,
            reason,
            up,
            down,
            compute_ms,
            compute_j + tx_j,
            carbon_j * g_per_j + tx_j * site_g_per_j,
            p99,
            window_end,
            battery,
            after,
            reserve,
            device,
            valid_until,
        )

    def sample_link_ms(
        self,
        site: str,
        tier: str,
        *,
        input_bytes: int,
        output_bytes: int,
        rng: np.random.Generator,
        t_s: float | None = None,
    ) -> tuple[float, float]:
        """One random draw of (uplink_ms, downlink_ms), to emulate the real delay of one request."""
        t = self.clock.now_s() if t_s is None else t_s
        ctx = self._ctx.get(site) or self._site(site)
        link = ctx.links.get(tier)
        if link is None:
            self._tier(tier)
            raise InvalidInput(f"site {site!r} has no access to tier {tier!r}")
        prop = link.prop_ms
        if tier == "satellite":
            got = self.satellites.serving(ctx.idx, ctx.lat, ctx.lon, t)
            if isinstance(got, tuple):
                prop = got[2] / C_KM_S * 1000.0
        rf, bf = self._fault(site, tier, t) if self.faults else (1.0, 1.0)
        return link.sample(rng, input_bytes, output_bytes, prop, t, rf, bf)

    # -- accounting ---------------------------------------------------------------------------------
    def record_request(self, site: str, tier: str, *, start_s: float, compute_ms: float, energy_j: float) -> None:
        """Book a finished request's energy to its device (and drain the serving satellite's battery)."""
        ctx = self._ctx.get(site) or self._site(site)
        spec = self._tier(tier)
        compute_s = compute_ms / 1000.0
        compute_j = spec.energy.active_w / spec.slots * compute_s * spec.energy.pue
        tx_j = max(energy_j - compute_j, 0.0)
        if tier == "satellite":
            got = self.satellites.serving(ctx.idx, ctx.lat, ctx.lon, start_s)
            sat_i = got[0] if isinstance(got, tuple) else -1
            device = self.satellites.names[sat_i] if sat_i >= 0 else "unassigned"
            if sat_i >= 0:
                extra_j = (spec.energy.active_w - spec.energy.idle_w) / spec.slots * compute_s
                self.satellites.battery(sat_i).draw(start_s, extra_j)
        else:
            device = ctx.devices[tier]
        self.ledger.record(tier, device, spec.energy, spec.slots, start_s, compute_s, tx_j)

    def energy_report(self, t0_s: float, t1_s: float) -> dict[str, TierEnergy]:
        """Per tier over [t0_s, t1_s]: request compute, transmission, idle energy and the integral of power."""
        return self.ledger.report(t0_s, t1_s)

    # -- availability helpers -------------------------------------------------------------------------
    def warm(self, sites: list[str] | None = None, t_s: float | None = None, days: int = 1) -> None:
        """Precompute contact windows and eclipses for ``sites`` (default site) from ``t_s`` for ``days`` days,
        so the first requests (and the first after midnight UTC) do not pay for orbit propagation."""
        t = self.clock.now_s() if t_s is None else t_s
        names = sites if sites is not None else [self.topology.default_site]
        ctxs = [self._ctx.get(n) or self._site(n) for n in names]
        sat = self.satellites
        day = math.floor(t / 86400.0) * 86400.0
        for d in [day - 86400.0 + 86400.0 * k for k in range(days + 1)]:
            if len(ctxs) > 8:
                idx = np.array([c.idx for c in ctxs])
                sat.prefetch(idx, np.array([c.lat for c in ctxs]), np.array([c.lon for c in ctxs]), d)
            else:
                for c in ctxs:
                    sat.segments(c.idx, c.lat, c.lon, d)
            sat.eclipses_between(0, d, d + 1.0)

    def available(self, site: str, tier: str, t_s: float | None = None) -> tuple[bool, str | None]:
        e = self.estimate(site, tier, host_compute_ms=0.0, precision="fp32", input_bytes=0, output_bytes=0, t_s=t_s)
        return e.available, e.reason

    def _tier(self, tier: str) -> TierSpec:
        try:
            return self.tiers[tier]
        except KeyError:
            raise InvalidInput(f"unknown tier {tier!r} (allowed: {', '.join(TIER_KINDS)})") from None

    def _site(self, name: str) -> _SiteCtx:
        topo = self.topology
        try:
            i = topo.site_index(name)
        except KeyError:
            raise InvalidInput(f"unknown site {name!r} (e.g. {topo.default_site!r})") from None
        s = topo.site(name)
        region: RegionSpec = topo.regions[s.region]
        dc = topo.datacentres[s.datacentre] if s.datacentre else None
        dc_km = float(topo.col_dc_km[i])
        links: dict[str, LinkParams | None] = {}
        for k, spec in self.tiers.items():
            distance = dc_km if k == "ground" else 0.0
            links[k] = LinkParams(spec.network, s.link_factor, distance) if k in s.access else None
        ctx = _SiteCtx(
            idx=i,
            name=name,
            lat=s.lat_deg,
            lon=s.lon_deg,
            region=region,
            cell=s.cell,
            dc=s.datacentre,
            links=links,
            dc_region=topo.regions[dc.region] if dc else region,
            # the device a request on each ground-side tier is booked to (satellites: the serving one, per request)
            devices={k: s.datacentre if k == "ground" else f"{s.cell}/{k}" for k in self.tiers},
        )
        self._ctx[name] = ctx
        return ctx
