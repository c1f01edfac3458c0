"""Router benchmarks: decision time, simulation speed, and the issue-4 targets on the scenarios.

    .venv/bin/python bench/bench_router.py [--quick] [--out results.json]

Measures (wall clock, on this machine, once):
- decision time of ``edge-aware`` ``choose`` (and of views + choose) with 4 tiers and 10,000 sites, the online
  corrector holding statistics for every (site, tier, model);
- simulated requests per wall-clock second for ``edge-aware`` on the default scenario (topology world) and on a
  table world (engine only);
- the targets: default scenario attainment / energy per success against the oracle, no baseline dominating the
  main policy on any scenario, attainment with every latency estimate biased by +/-30%.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from maas.routing import Observation, RouteRequest, TierQueue, build_policy, views_from_estimates  # noqa: E402
from maas.sim.runner import prepare, run  # noqa: E402
from maas.sim.scenario import ScenarioSpec, load_scenario  # noqa: E402

SCENARIOS = ROOT / "cluster" / "scenarios"
TIERS = ["base-station", "optical-access", "ground", "satellite"]
MODELS = ["minilm-embed", "digits-mlp", "maintenance-clf"]

# engine-only speed: a fixed-figure world (no topology), 4 tiers, 3 sites
TABLE_WORLD = {
    "name": "table-world-bench",
    "table_tiers": [
        {"name": "base-station", "kind": "base-station", "uplink_ms": 4, "downlink_ms": 4, "link_sigma": 0.3,
         "slowdown": 0.5, "power_w": 8, "carbon_g_per_j": 0.00016, "slots": 4},
        {"name": "optical-access", "kind": "optical-access", "uplink_ms": 1, "downlink_ms": 1, "link_sigma": 0.2,
         "slowdown": 0.8, "power_w": 20, "carbon_g_per_j": 0.00016, "slots": 2},
        {"name": "ground", "kind": "ground", "uplink_ms": 8, "downlink_ms": 8, "link_sigma": 0.3, "slowdown": 0.25,
         "power_w": 310, "carbon_g_per_j": 0.00013, "slots": 16},
        {"name": "satellite", "kind": "satellite", "uplink_ms": 10, "downlink_ms": 10, "link_sigma": 0.4,
         "slowdown": 3, "power_w": 11, "slots": 1, "up_period_s": 60, "up_s": 40, "battery_j": 25000,
         "reserve_j": 15000},
    ],
    "duration_s": 10,
    "seed": 3,
    "sites": ["a", "b", "c"],
    "models": {"minilm-embed": {"host_compute_ms": 8}, "digits-mlp": {"host_compute_ms": 0.05}},
    "workload": {"kind": "poisson", "rate_rps": 1500},
    "tenants": [
        {"name": "ar", "share": 0.5, "deadline_ms": 40, "objective": "energy", "models": {"minilm-embed": 1}},
        {"name": "iot", "share": 0.5, "deadline_ms": 25, "objective": "latency",
         "models": {"digits-mlp": 1, "minilm-embed": 1}},
    ],
}


def bench_decision(n_sites: int = 10_000, calls: int = 200_000, seed: int = 0) -> dict:
    """p50/p99 of choose() and of views_from_estimates() + choose() over random sites, objectives, deadlines."""
    rng = random.Random(seed)
    policy = build_policy("edge-aware", epsilon=0.01, energy_budget_w={"ground": 50.0})
    sites = [f"site-{i:05d}" for i in range(n_sites)]
    for s in sites:  # statistics for every (site, tier, model): the corrector at full size
        for t in TIERS:
            for m in MODELS:
                req = RouteRequest(model=m, site=s)
                for _ in range(2):
                    est = rng.uniform(5, 40)
                    policy.observe(Observation(req, t, est, est * rng.uniform(0.8, 1.6), 0.01, 0.0, est / 2))
    estimates = []
    for _ in range(256):
        e = {}
        for t in TIERS:
            up = rng.uniform(1, 20)
            e[t] = SimpleNamespace(available=rng.random() > 0.05, reason=None, uplink_ms=up, downlink_ms=up * 0.8,
                                   compute_ms=rng.uniform(0.1, 25), energy_j=rng.uniform(0.01, 0.3),
                                   carbon_g=rng.uniform(0, 1e-4), network_p99_ms=up * 4,
                                   window_end_s=1000.5 if t == "satellite" else None,
                                   battery_after_j=20000.0 if t == "satellite" else None,
                                   battery_reserve_j=15000.0 if t == "satellite" else None)
        estimates.append(e)
    queues = {t: TierQueue(in_flight=[rng.randint(0, 8) for _ in range(4)], slots=4) for t in TIERS}
    objectives = ["latency", "energy", "carbon", "balanced"]
    requests = [RouteRequest(model=rng.choice(MODELS), site=rng.choice(sites), objective=rng.choice(objectives),
                             deadline_ms=rng.choice([20.0, 50.0, 150.0, None])) for _ in range(4096)]
    views_pool = [views_from_estimates(estimates[i % 256], queues, now_s=1000.0, platform_ms=1.0, rng=rng)
                  for i in range(1024)]
    perf = time.perf_counter_ns
    choose = policy.choose
    dec = np.empty(calls, dtype=np.int64)
    for i in range(calls):
        req = requests[i & 4095]
        views = views_pool[i & 1023]
        t0 = perf()
        choose(req, views)
        dec[i] = perf() - t0
    full = np.empty(calls // 4, dtype=np.int64)
    for i in range(calls // 4):
        req = requests[i & 4095]
        t0 = perf()
        views = views_from_estimates(estimates[i & 255], queues, now_s=1000.0, platform_ms=1.0, rng=rng)
        choose(req, views)
        full[i] = perf() - t0
    return {
        "sites": n_sites,
        "tiers": len(TIERS),
        "choose_us_p50": round(float(np.percentile(dec, 50)) / 1000, 3),
        "choose_us_p99": round(float(np.percentile(dec, 99)) / 1000, 3),
        "views_plus_choose_us_p50": round(float(np.percentile(full, 50)) / 1000, 3),
        "views_plus_choose_us_p99": round(float(np.percentile(full, 99)) / 1000, 3),
    }


def bench_sim_speed(duration_s: float) -> dict:
    out = {}
    f = SCENARIOS / "default-city.yaml"
    prep = prepare(load_scenario(f), str(f), policies=["edge-aware"], duration_s=duration_s)
    speeds: dict[str, float] = {}
    run(prep, oracle=False, speeds=speeds)
    out["topology_world_requests"] = len(prep.inp.trace)
    out["topology_world_requests_per_s"] = speeds["edge-aware"]
    spec = ScenarioSpec.model_validate(TABLE_WORLD)
    prep = prepare(spec, "<bench table world>", policies=["edge-aware"], duration_s=duration_s)
    speeds = {}
    run(prep, oracle=False, speeds=speeds)
    out["table_world_requests"] = len(prep.inp.trace)
    out["table_world_requests_per_s"] = speeds["edge-aware"]
    return out


def _dominators(results: dict, main: str = "edge-aware") -> list[str]:
    m = results[main]
    out = []
    for name, r in results.items():
        if name in (main, "oracle") or "slo_attainment" not in r:
            continue
        if r["slo_attainment"] > m["slo_attainment"] and r["energy_j_per_request"] < m["energy_j_per_request"]:
            out.append(name)
    return out


def bench_targets(quick: bool) -> dict:
    out: dict = {}
    for name in ("default-city", "grid-constrained", "remote-satellite"):
        f = SCENARIOS / f"{name}.yaml"
        prep = prepare(load_scenario(f), str(f))
        res = run(prep, oracle=not (quick and name != "default-city"))
        row = {"dominated_by": _dominators(res), "edge-aware": res["edge-aware"]}
        if "oracle" in res and "slo_attainment" in res["oracle"]:
            o, m = res["oracle"], res["edge-aware"]
            row["oracle"] = {k: o[k] for k in ("slo_attainment", "energy_j_per_success", "status")}
            row["oracle_replayed"] = {k: o["replayed"][k] for k in ("slo_attainment", "energy_j_per_success")}
            row["attainment_vs_oracle"] = round(m["slo_attainment"] / o["slo_attainment"], 4)
            row["energy_per_success_vs_oracle"] = round(m["energy_j_per_success"] / o["energy_j_per_success"], 4)
        out[name] = row
    # robustness: every latency estimate biased by +/-30 % (the oracle uses the truth: bias does not change it)
    for name in ("default-city", "grid-constrained", "remote-satellite"):
        f = SCENARIOS / f"{name}.yaml"
        spec = load_scenario(f)
        base = dict(spec.policy_options.get("edge-aware", {}))
        oracle_att = out[name].get("oracle", {}).get("slo_attainment")
        for bias in (0.3, -0.3):
            row: dict = {"oracle_attainment": oracle_att}
            for corr in ((True,) if quick else (True, False)):
                prep = prepare(spec, str(f), policies=["edge-aware"], bias=bias)
                prep.spec.policy_options = {"edge-aware": {**base, "correction": corr}}
                r = run(prep, oracle=False)["edge-aware"]
                key = "with_correction" if corr else "without_correction"
                row[key] = {"slo_attainment": r["slo_attainment"], "energy_j_per_success": r["energy_j_per_success"]}
                if oracle_att is not None:
                    row[key]["gap_points"] = round(100 * (oracle_att - r["slo_attainment"]), 3)
            out[f"{name}_bias_{bias:+.1f}"] = row
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer decision calls, shorter speed run")
    ap.add_argument("--out", type=Path, help="also write the results here (JSON)")
    args = ap.parse_args()
    results = {
        "decision": bench_decision(calls=50_000 if args.quick else 200_000),
        "sim_speed": bench_sim_speed(5.0 if args.quick else 15.0),
        "targets": bench_targets(args.quick),
    }
    text = json.dumps(results, indent=2)
    print(text)
    if args.out:
        fd, tmp = tempfile.mkstemp(dir=str(args.out.parent), suffix=".json")
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.replace(tmp, args.out)


if __name__ == "__main__":
    main()
