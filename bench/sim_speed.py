"""Simulated requests per second of the main policy on default-city (15 s of trace, 29,862 requests), this tree.

For a same-day A/B against another commit on a noisy host, run it in two worktrees in turn, many times, and compare
the paired ratios (the router bench's figure alone moves by +-20% between runs here):

    git worktree add /tmp/base <commit>
    for k in $(seq 20); do PYTHONPATH=. python bench/sim_speed.py
                           (cd /tmp/base && PYTHONPATH=. python "$OLDPWD/bench/sim_speed.py"); done

``PYTHONPATH=.`` matters: a script's own directory, not the working directory, heads ``sys.path``, so without it
the editable install's ``maas`` (this tree's) is imported in both.

Prints one JSON line: requests, and the best of ``--repeat`` runs by the engine's own wall time (its timed loop,
as ``bench/bench_router.py`` reports) and by this process's CPU time (less sensitive to other processes).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from maas.routing import build_policy
from maas.sim.engine import run_policy
from maas.sim.runner import prepare
from maas.sim.scenario import load_scenario

SCENARIO = Path("cluster/scenarios/default-city.yaml")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration-s", type=float, default=15.0)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if args.duration_s <= 0 or args.repeat < 1:
        parser.error("--duration-s must be > 0 and --repeat >= 1")
    prep = prepare(load_scenario(SCENARIO), str(SCENARIO), policies=["edge-aware"], duration_s=args.duration_s)
    run_policy(prep.inp, build_policy("edge-aware"))  # warms the orbit caches, as the bench's first run does
    n = len(prep.inp.trace)
    best_cpu = best_wall = 0.0
    for _ in range(args.repeat):
        c0 = time.process_time()
        record = run_policy(prep.inp, build_policy("edge-aware"))
        best_cpu = max(best_cpu, n / (time.process_time() - c0))
        best_wall = max(best_wall, n / record.wall_s)
    print(json.dumps({"requests": n, "wall_rps": round(best_wall), "cpu_rps": round(best_cpu)}))


if __name__ == "__main__":
    main()
