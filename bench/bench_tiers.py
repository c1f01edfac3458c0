"""Benchmark of the tier models (issue 3).

1. Contact windows for 1,000 sites over 24 h with a 1,584-satellite Walker shell (72 planes x 22, 550 km, 53 deg,
   25 deg mask): cold (computed) and warm (from the disk cache). Target: cold < 60 s.
2. ``World.estimate`` latency per call (p50/p99 in microseconds) over all four tiers and 200 sites. Target p99 < 20 us.

Run: ``.venv/bin/python bench/bench_tiers.py [--sites 1000] [--calls 200000] [--json out.json]``
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from maas.clock import ManualClock
from maas.tiers import World, load_topology
from maas.tiers.contacts import ContactEngine
from maas.tiers.orbits import Constellation
from maas.tiers.spec import ConstellationSpec

DAY = 1795219200.0  # 2026-11-21T00:00:00Z


def bench_contacts(n_sites: int, cache_dir: Path) -> dict:
    spec = ConstellationSpec(
        altitude_km=550, inclination_deg=53, planes=72, sats_per_plane=22, phasing=1, elevation_mask_deg=25
    )
    rng = np.random.default_rng(0)
    lat = np.degrees(np.arcsin(rng.uniform(np.sin(np.radians(-56)), np.sin(np.radians(56)), n_sites)))
    lon = rng.uniform(-180, 180, n_sites)
    t0 = time.perf_counter()
    engine = ContactEngine(Constellation(spec, DAY), cache_dir=cache_dir)
    w = engine.windows(lat, lon, DAY)
    cold_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    w2 = ContactEngine(Constellation(spec, DAY), cache_dir=cache_dir).windows(lat, lon, DAY)
    warm_s = time.perf_counter() - t1
    assert len(w2["sat"]) == len(w["sat"])
    dur_min = (w["end_s"] - w["start_s"]) / 60.0
    covered = len(np.unique(w["site"]))
    return {
        "sites": n_sites,
        "satellites": spec.size,
        "hours": 24,
        "windows": int(len(w["sat"])),
        "sites_with_contact": covered,
        "cold_s": round(cold_s, 2),
        "warm_cached_s": round(warm_s, 3),
        "longest_pass_min": round(float(dur_min.max()), 2),
        "median_pass_min": round(float(np.median(dur_min)), 2),
    }


def bench_estimate(calls: int) -> dict:
    topo = load_topology(Path(__file__).resolve().parents[1] / "cluster" / "topology.yaml")
    clock = ManualClock(DAY + 6 * 3600)
    world = World(topo, clock)
    sites = topo.site_names[:200]
    tiers = topo.tier_names
    rng = np.random.default_rng(1)
    site_idx = rng.integers(len(sites), size=calls)
    tier_idx = rng.integers(len(tiers), size=calls)
    for s in sites:  # warm the per-site caches (link parameters, today's contact windows)
        for tier in tiers:
            world.estimate(s, tier, host_compute_ms=20.0, precision="int8", input_bytes=50_000, output_bytes=2_000)
    per_tier: dict[str, list[float]] = {t: [] for t in tiers}
    pc = time.perf_counter_ns
    est = world.estimate
    for k in range(calls):
        s, tier = sites[site_idx[k]], tiers[tier_idx[k]]
        clock.advance(0.001)
        a = pc()
        est(s, tier, host_compute_ms=20.0, precision="int8", input_bytes=50_000, output_bytes=2_000)
        per_tier[tier].append((pc() - a) / 1000.0)
    all_us = np.concatenate([np.array(v) for v in per_tier.values()])
    out = {
        "calls": calls,
        "sites": len(sites),
        "p50_us": round(float(np.percentile(all_us, 50)), 2),
        "p99_us": round(float(np.percentile(all_us, 99)), 2),
    }
    for t, v in per_tier.items():
        out[f"{t}_p99_us"] = round(float(np.percentile(v, 99)), 2)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sites", type=int, default=1000)
    ap.add_argument("--calls", type=int, default=200_000)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="maas-contacts-") as tmp:
        contacts = bench_contacts(args.sites, Path(tmp))
    print(
        f"contact windows: {contacts['sites']} sites x 24 h x {contacts['satellites']} satellites: "
        f"{contacts['cold_s']} s cold, {contacts['warm_cached_s']} s from cache; {contacts['windows']} windows, "
        f"longest pass {contacts['longest_pass_min']} min"
    )
    estimate = bench_estimate(args.calls)
    tiers = ", ".join(
        f"{t}: {estimate[t + '_p99_us']}" for t in ("base-station", "optical-access", "ground", "satellite")
    )
    print(
        f"World.estimate: p50 {estimate['p50_us']} us, p99 {estimate['p99_us']} us over {estimate['calls']} calls "
        f"(p99 per tier, us: {tiers})"
    )
    if args.json:
        args.json.write_text(json.dumps({"contacts": contacts, "estimate": estimate}, indent=2))


if __name__ == "__main__":
    main()
