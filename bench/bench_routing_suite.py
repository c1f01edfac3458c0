"""Routing-quality suite: the policies and the offline oracle on N generated scenarios (issue 14).

    .venv/bin/python bench/bench_routing_suite.py [--n 50] [--seed 14] [--load 0.6,0.9] [--requests 1500] [--workers 2]
        [--tag before] [--no-cache] [--option key=value ...]

Scenarios come from ``maas.sim.generate`` (documented distributions; ``--load`` narrows the load range, default
60-90% as the issue's targets). Prints, per policy, attainment/oracle (median, p10, worst), energy per
success/oracle (median, p90, worst) and on how many scenarios it dominates the main policy; writes
``results/routing_suite[-TAG].json``. Oracle and baseline figures are cached per scenario under
``results/routing_suite_cache/`` (they do not depend on the main policy); ``--no-cache`` recomputes them.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from maas.sim.generate import generate, ranges_from  # noqa: E402
from maas.sim.suite import aggregate, evaluate  # noqa: E402

RESULTS = ROOT / "results"
TARGETS = {"attainment_median": 0.995, "attainment_p10": 0.98, "energy_median": 1.10, "energy_p90": 1.25,
           "energy_median_objective": 1.10, "energy_p90_objective": 1.25, "dominated_share": 0.02,
           "dominated_share_objective_aware": 0.02}


def _one(args: tuple) -> dict:
    seed, i, ranges, cache, options = args
    g = generate(seed, i, ranges_from(ranges))
    return evaluate(g, RESULTS / "routing_suite_scenarios", cache_dir=cache, policy_options=options)


def _value(text: str):
    try:
        return json.loads(text)
    except ValueError:
        return text


def table(agg: dict) -> str:
    lines = [f"{'policy':<28}{'att/oracle med':>15}{'p10':>8}{'worst':>8}{'J/succ/oracle med':>19}{'p90':>8}"
             f"{'worst':>8}{'/obj-oracle med':>17}{'p90':>8}{'dominates':>11}"]
    for name, s in agg.items():
        if name.startswith("_"):
            continue
        a, e, eo = s["attainment_vs_oracle"], s["energy_vs_oracle"], s.get("energy_vs_objective_oracle", {})
        lines.append(f"{name:<28}{a.get('median', float('nan')):>15.4f}{a.get('p10', float('nan')):>8.4f}"
                     f"{a.get('worst', float('nan')):>8.4f}{e.get('median', float('nan')):>19.3f}"
                     f"{e.get('p90', float('nan')):>8.3f}{e.get('worst', float('nan')):>8.3f}"
                     f"{eo.get('median', float('nan')):>17.3f}{eo.get('p90', float('nan')):>8.3f}"
                     f"{len(s['dominates_main_on']):>11}")
    m = agg["_main"]
    lines.append(f"main policy {m['policy']} dominated on {m['dominated_on']} of {m['scenarios']} scenarios "
                 f"({m['dominated_share']:.1%})")
    if "dominated_on_objective_aware" in m:
        obj = m["dominated_on_objective_aware"]
        lines.append(f"  counting only baselines no worse for the latency and carbon tenants by their own measure: "
                     f"{len(obj)} ({', '.join(obj) or 'none'})")
    stopped = m.get("oracle_stopped", {})
    if any(stopped.values()):
        lines.append("oracle stopped by its time limit (energy ratios left out): "
                     + ", ".join(f"{k} on {v}" for k, v in stopped.items()))
    return "\n".join(lines)


def verdict(agg: dict) -> dict:
    main = agg[agg["_main"]["policy"]]
    a, e, eo = main["attainment_vs_oracle"], main["energy_vs_oracle"], main.get("energy_vs_objective_oracle", {})
    got = {"attainment_median": a["median"], "attainment_p10": a["p10"], "energy_median": e["median"],
           "energy_p90": e["p90"], "energy_median_objective": eo.get("median"),
           "energy_p90_objective": eo.get("p90"), "dominated_share": agg["_main"]["dominated_share"],
           "dominated_share_objective_aware": (round(len(agg["_main"]["dominated_on_objective_aware"])
                                                     / agg["_main"]["scenarios"], 4)
                                               if "dominated_on_objective_aware" in agg["_main"] else None)}
    got = {k: v for k, v in got.items() if v is not None}
    return {k: {"value": v, "target": TARGETS[k],
                "met": bool(v >= TARGETS[k] if k.startswith("attainment") else v <= TARGETS[k])}
            for k, v in got.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=50)
    ap.add_argument("--seed", type=int, default=14)
    ap.add_argument("--load", default="0.6,0.9", help="low,high fraction of edge capacity")
    ap.add_argument("--requests", type=int, default=1500, help="about this many requests per scenario")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--tag", default="")
    ap.add_argument("--no-cache", action="store_true")
    ap.add_argument("--option", action="append", default=[], help="main-policy option key=value (JSON value)")
    args = ap.parse_args()
    lo, hi = (float(x) for x in args.load.split(","))
    ranges = {"load": (lo, hi), "requests": args.requests}
    ranges_from(ranges)  # fail early on a bad range
    cache = None if args.no_cache else RESULTS / "routing_suite_cache"
    options = dict(kv.split("=", 1) for kv in args.option)
    options = {k: _value(v) for k, v in options.items()}
    t0 = time.perf_counter()
    jobs = [(args.seed, i, ranges, cache, options) for i in range(args.n)]
    if args.workers > 1:
        with ProcessPoolExecutor(args.workers) as pool:
            rows = list(pool.map(_one, jobs))
    else:
        rows = [_one(j) for j in jobs]
    agg = aggregate(rows)
    out = {"command": " ".join(["bench/bench_routing_suite.py", *sys.argv[1:]]), "n": args.n, "seed": args.seed,
           "load": [lo, hi], "options": options, "wall_s": round(time.perf_counter() - t0, 1),
           "summary": agg, "targets": verdict(agg), "scenarios": rows}
    print(table(agg))
    print(json.dumps(out["targets"], indent=1))
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / (f"routing_suite-{args.tag}.json" if args.tag else "routing_suite.json")
    fd, tmp = tempfile.mkstemp(dir=str(RESULTS), suffix=".json")
    with os.fdopen(fd, "w") as fh:
        json.dump(out, fh, indent=1)
    os.replace(tmp, path)
    print(f"wrote {path} in {out['wall_s']} s")


if __name__ == "__main__":
    main()
