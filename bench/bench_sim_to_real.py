"""Sim-to-real benchmark (issue 4): the same small scenario live through Ray Serve and in virtual time.

Starts one local Ray instance and the platform (every scenario model on every tier, real onnxruntime, emulated
network and device time), then runs ``maas.simlive.live.check`` ``--runs`` times: each run calibrates platform_ms on
a short warm-up replay, replays the scenario's trace open-loop, simulates the same trace from the live start, and
compares SLO attainment (target: within 3 points) and tier shares (within 5 points). Prints JSON, writes
results/sim_to_real.json atomically, tears everything down. Exit 0 when every run is within both targets.

``--topology FILE`` starts the platform on another topology (the scenario must name the same file), e.g. batching
on: ``--scenario cluster/scenarios/sim-to-real-batching.yaml --topology cluster/topology-batching.yaml`` (issue 13).

``--suite [DIR]`` runs every scenario of DIR (default ``cluster/scenarios/sim-to-real-suite``, issue 16) ``--runs``
times on the same platform and prints one line per scenario (worst run); results/sim_to_real_suite.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from maas.loadtest.stubserver import free_port
from maas.serving.ray_env import apply_ray_env

apply_ray_env()

import ray  # noqa: E402
from ray import serve  # noqa: E402

from maas.api.service import prepare_service  # noqa: E402
from maas.clock import WallClock  # noqa: E402
from maas.serving import platform  # noqa: E402
from maas.serving.layout import load_layout  # noqa: E402
from maas.serving.readiness import wait_until_serving  # noqa: E402
from maas.settings import ROOT, load_settings  # noqa: E402
from maas.sim.scenario import load_scenario  # noqa: E402
from maas.simlive.live import check, manifest_host_ms  # noqa: E402
from maas.tiers import load_topology  # noqa: E402


def _write_atomic(path: Path, doc: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".sim_to_real-", suffix=".json", dir=str(path.parent))
    with os.fdopen(fd, "w") as fh:
        json.dump(doc, fh, indent=2)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


SUITE_DIR = ROOT / "cluster" / "scenarios" / "sim-to-real-suite"


def _rel(path: Path) -> str:
    path = path.resolve()
    return str(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)


def _print_table(summary: list[dict]) -> None:
    """One line per scenario: its runs' attainment and worst tier-share differences, the requests routed
    differently, the attainment difference with the other two overhead models, and the verdict."""
    by: dict[str, list[dict]] = {}
    for row in summary:
        by.setdefault(row["scenario"], []).append(row)
    print("| scenario | attainment sim / live | attainment diff, pts | max tier-share diff, pts | routed differently | "
          "attainment diff, gateway tail / median overhead, pts | passed |", file=sys.stderr)
    print("|---|---|---|---|---|---|---|", file=sys.stderr)
    for name, rows in by.items():
        def col(key: str, rows: list[dict] = rows) -> str:
            return ", ".join(str(r.get(key, "-")) for r in rows)
        att = ", ".join(f"{r['attainment_sim']:.3f} / {r['attainment_live']:.3f}" for r in rows)
        print(f"| {name} | {att} | {col('attainment_diff_points')} | {col('max_tier_share_diff_points')} | "
              f"{col('routed_differently')} | {col('attainment_diff_points_gateway_tail')} / "
              f"{col('attainment_diff_points_median')} | "
              f"{sum(r['passed'] for r in rows)}/{len(rows)} |", file=sys.stderr)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scenario", type=Path, default=ROOT / "cluster" / "scenarios" / "sim-to-real.yaml")
    parser.add_argument("--suite", type=Path, nargs="?", const=SUITE_DIR, default=None,
                        help=f"run every scenario of this directory (default {SUITE_DIR.relative_to(ROOT)})")
    parser.add_argument("--topology", type=Path, default=None,
                        help="the platform's topology (default: the settings'); the scenario must name the same file")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--warmup-s", type=float, default=10.0)
    parser.add_argument("--explain", type=int, default=0, help="list the first N requests routed differently")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    if args.runs < 1 or args.explain < 0:
        parser.error("--runs must be >= 1 and --explain >= 0")
    files = sorted(args.suite.glob("*.yaml")) if args.suite else [args.scenario]
    if not files:
        parser.error(f"--suite: no *.yaml in {args.suite}")
    out = args.out or ROOT / "results" / ("sim_to_real_suite.json" if args.suite else "sim_to_real.json")
    specs = {f: load_scenario(f) for f in files}
    models = list(dict.fromkeys(m for spec in specs.values() for m in spec.models))
    data_dir = Path(tempfile.mkdtemp(prefix="maas-bench-"))
    overrides = {"topology_path": args.topology.resolve()} if args.topology else {}
    settings = load_settings(None, port=free_port(), grpc_port=free_port(), network_emulation=1.0,
                             compute_emulation=1.0, data_dir=data_dir, **overrides)
    topology = load_topology(settings.topology_path)
    tiers = list(topology.tier_names)
    layout = load_layout(settings.layout_path, topology.tier_names)
    resources = {s.ray_resource: layout.embedded.tier_units for s in topology.tiers.values()}
    placements = {m: list(tiers) for m in models}
    host_ms = manifest_host_ms(settings.models_dir, models)
    url = f"http://{settings.host}:{settings.port}"
    runs = []
    t0 = time.perf_counter()
    ray.init(address="local", num_cpus=2, resources=resources, include_dashboard=False, namespace="serve",
             log_to_driver=False)
    try:
        platform.start_serve(settings)
        platform.deploy_models(settings, placements)
        prepare_service(settings, WallClock())  # the database and the dev tenant's key the replay runs as
        platform.deploy_gateway(settings)
        headers = {"Authorization": f"Bearer {(data_dir / 'dev.key').read_text().strip()}"}
        wait_until_serving(settings, placements, timeout_s=300)
        print(f"platform up at {url} in {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
        for file, spec in specs.items():
            for k in range(args.runs):
                tag = f"{spec.name} run {k + 1}"
                report = check(url, spec, str(file), host_ms={m: host_ms[m] for m in spec.models},
                               warmup_s=args.warmup_s, headers=headers, explain=args.explain,
                               progress=lambda m, tag=tag: print(f"[{tag}] {m}", file=sys.stderr, flush=True))
                c = report["comparison"]
                batching = report["batching"]
                if batching["profile_ms"]:
                    print(f"[{tag}] batching: requests per batch size live {batching['requests_by_batch_size']['live']}"
                          f", sim {batching['requests_by_batch_size']['sim']}", file=sys.stderr, flush=True)
                print(f"[{tag}] attainment sim {c['slo_attainment']['sim']:.4f} live "
                      f"{c['slo_attainment']['live']:.4f} ({c['slo_attainment']['diff_points']} pts); max tier share "
                      f"diff {c['max_tier_share_diff_points']} pts -> {'PASS' if c['passed'] else 'FAIL'}",
                      file=sys.stderr, flush=True)
                runs.append(report)
    finally:
        serve.shutdown()
        ray.shutdown()
    doc = {
        "scenarios": [_rel(f) for f in files],
        "targets": {"slo_attainment_points": 3.0, "tier_share_points": 5.0},
        "summary": [{"scenario": r["scenario"], "epoch": r["epoch"], "platform_ms": r["calibration"]["platform_ms"],
                     "ingress_ms": r["calibration"]["ingress_ms"],
                     "attainment_sim": r["comparison"]["slo_attainment"]["sim"],
                     "attainment_live": r["comparison"]["slo_attainment"]["live"],
                     "attainment_diff_points": r["comparison"]["slo_attainment"]["diff_points"],
                     "max_tier_share_diff_points": r["comparison"]["max_tier_share_diff_points"],
                     "routed_differently": r["decisions"]["routed_differently"],
                     "attainment_diff_points_gateway_tail": r["overhead_models"]["gateway-tail"]["attainment_diff_points"],
                     "attainment_diff_points_median": r["overhead_models"]["median"]["attainment_diff_points"],
                     "passed": r["comparison"]["passed"]} for r in runs],
        "all_passed": bool(runs) and all(r["comparison"]["passed"] for r in runs),
        "runs": runs,
        "wall_s": round(time.perf_counter() - t0, 1),
    }
    print(json.dumps(doc, indent=2))
    _write_atomic(out, doc)
    _print_table(doc["summary"])
    return 0 if doc["all_passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
