"""Read-only views of a ``LivePlacer`` for metrics, the status page and ``maas top``: requests in flight per
(model, tier), each tier's availability (and why not) at a site now, the serving satellite's battery, and a
site's satellite outlook (contact windows, eclipses, battery curve). Nothing here changes placement's state
except that asking a battery its charge advances it to now (time never goes back, as on the request path).
"""

from __future__ import annotations

import math
from typing import Any

from maas.placement.live import LivePlacer
from maas.tiers.battery import Battery
from maas.tiers.world import iso_utc

__all__ = ["in_flight", "tier_status", "satellite_battery", "satellite_outlook", "satellite_sites", "iso_utc"]

_PROBE_BYTES = 1024


def in_flight(placer: LivePlacer) -> dict[tuple[str, str], tuple[int, int]]:
    """(model, tier) -> (requests in flight from this gateway, the tier's slots)."""
    return {key: (q.in_flight[0], q.slots) for key, q in list(placer._queues.items())}


def satellite_sites(placer: LivePlacer, limit: int = 50) -> list[str]:
    """The default site first, then up to ``limit`` sites (topology order) that reach the satellite tier."""
    topo = placer.models.topology
    default = placer.default_site
    out = [default]
    for name in topo.site_names:
        if len(out) >= limit:
            break
        if name != default and "satellite" in topo.site(name).access:
            out.append(name)
    return out


def tier_status(placer: LivePlacer, site: str, t_s: float) -> list[dict[str, Any]]:
    """Each tier at ``site`` now: available or not and why (the estimate placement would use)."""
    out = []
    for tier in placer.tier_names:
        e = placer.models.estimate(site, tier, host_compute_ms=1.0, input_bytes=_PROBE_BYTES,
                                   output_bytes=_PROBE_BYTES, t_s=t_s)
        out.append({"tier": tier, "kind": placer.models.kind(tier), "available": bool(e.available),
                    "reason": e.reason, "device": e.device,
                    "rtt_ms": round(e.uplink_ms + e.downlink_ms, 3) if e.available else None})
    return out


def satellite_battery(placer: LivePlacer, site: str, t_s: float) -> dict[str, Any] | None:
    """The satellite serving ``site`` now, its state of charge (J and ratio) and window end; else when next."""
    models = placer.models
    if "satellite" not in models.tier_names or not models.site_exists(site):
        return None
    world = models.world
    ctx = world._ctx.get(site) or world._site(site)
    if "satellite" not in ctx.links:
        return None
    sat = world.satellites
    got = sat.serving(ctx.idx, ctx.lat, ctx.lon, t_s)
    if not isinstance(got, tuple):
        return {"in_contact": False, "next_contact": None if got is None else iso_utc(got),
                "next_contact_s": got}
    i, window_end_s, slant_km = got
    b = sat.battery(i)
    soc_j = b.at(t_s)
    return {"in_contact": True, "satellite": sat.names[i], "window_end": iso_utc(window_end_s),
            "window_end_s": window_end_s, "slant_km": round(slant_km, 1), "soc_j": round(soc_j, 1),
            "capacity_j": b.spec.capacity_j, "reserve_j": b.spec.reserve_j, "soc_ratio": soc_j / b.spec.capacity_j}


def satellite_outlook(placer: LivePlacer, site: str, t_s: float, hours: float = 6.0,
                      max_windows: int = 200) -> dict[str, Any] | None:
    """The satellite tier at ``site`` from ``t_s`` for ``hours``: the serving contact windows (placement's cached
    serving segments: who serves the site when), the eclipses of the satellites serving now and next, and the
    battery curve of the satellite serving now (or next), projected from its live charge with no load. Cheap
    (cached segments and eclipse tables); times in seconds since the epoch and ISO-8601 UTC."""
    models = placer.models
    if "satellite" not in models.tier_names or not models.site_exists(site):
        return None
    world = models.world
    ctx = world._ctx.get(site) or world._site(site)
    if "satellite" not in ctx.links:
        return None
    sat = world.satellites
    t1_s = t_s + hours * 3600.0
    windows: list[dict[str, Any]] = []
    day = math.floor(t_s / 86400.0) * 86400.0 - 86400.0
    while day < t1_s and len(windows) < max_windows:
        seg = sat.segments(ctx.idx, ctx.lat, ctx.lon, day)
        for a, b, i in zip(seg.start, seg.end, seg.sat, strict=True):
            if b > t_s and a < t1_s and len(windows) < max_windows and (not windows or a >= windows[-1]["end_s"]):
                windows.append({"satellite": sat.names[i], "sat": i, "start": iso_utc(a), "end": iso_utc(b),
                                "start_s": a, "end_s": b})
        day += 86400.0
    focus = [w["sat"] for w in windows[:2]]
    eclipses = [{"satellite": sat.names[i], "start_s": max(a, t_s), "end_s": min(b, t1_s),
                 "start": iso_utc(max(a, t_s)), "end": iso_utc(min(b, t1_s))}
                for i in dict.fromkeys(focus) for a, b in sat.eclipses_between(i, t_s, t1_s)]
    battery: list[dict[str, Any]] = []
    if focus:
        i = focus[0]
        live = sat.battery(i)
        soc_now = live.at(t_s) if t_s >= live.t_s else live.soc_j
        proj = Battery(live.spec, live.idle_w, lambda a, z, j=i: sat.eclipses_between(j, a, z), t_s, True)
        proj.soc_j = soc_now
        proj.history = [(t_s, soc_now)]
        proj.at(t1_s)
        battery = [{"satellite": sat.names[i], "t_s": t, "t": iso_utc(t), "soc_j": round(soc, 1)}
                   for t, soc in proj.history or []]
    for w in windows:
        del w["sat"]
    spec = world.tiers["satellite"].battery
    return {"site": site, "start_s": t_s, "end_s": t1_s, "start": iso_utc(t_s), "end": iso_utc(t1_s),
            "windows": windows, "eclipses": eclipses, "battery": battery,
            "capacity_j": None if spec is None else spec.capacity_j,
            "reserve_j": None if spec is None else spec.reserve_j}
