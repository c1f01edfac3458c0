"""Sim-to-real benchmark (issue 4): the same small scenario live through Ray Serve and in virtual time.

Starts one local Ray instance and the platform (every scenario model on every tier, real onnxruntime, emulated
network and device time), then runs ``maas.simlive.live.check`` ``--runs`` times: each run calibrates platform_ms on
a short warm-up replay, replays the scenario's trace open-loop, simulates the same trace from the live start, and
compares SLO attainment (target: within 3 points) and tier shares (within 5 points). Prints JSON, writes
results/sim_to_real.json atomically, tears everything down. Exit 0 when every run is within both targets.
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scenario", type=Path, default=ROOT / "cluster" / "scenarios" / "sim-to-real.yaml")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--warmup-s", type=float, default=10.0)
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "sim_to_real.json")
    args = parser.parse_args()

    spec = load_scenario(args.scenario)
    data_dir = Path(tempfile.mkdtemp(prefix="maas-bench-"))
    settings = load_settings(None, port=free_port(), network_emulation=1.0, compute_emulation=1.0, data_dir=data_dir)
    topology = load_topology(settings.topology_path)
    tiers = spec.tiers or list(topology.tier_names)
    layout = load_layout(settings.layout_path, topology.tier_names)
    resources = {s.ray_resource: layout.embedded.tier_units for s in topology.tiers.values()}
    placements = {m: list(tiers) for m in spec.models}
    host_ms = manifest_host_ms(settings.models_dir, list(spec.models))
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
        for k in range(args.runs):
            report = check(url, spec, str(args.scenario), host_ms=host_ms, warmup_s=args.warmup_s, headers=headers,
                           progress=lambda m, k=k: print(f"[run {k + 1}] {m}", file=sys.stderr, flush=True))
            c = report["comparison"]
            print(f"[run {k + 1}] attainment sim {c['slo_attainment']['sim']:.4f} live {c['slo_attainment']['live']:.4f}"
                  f" ({c['slo_attainment']['diff_points']} pts); max tier share diff "
                  f"{c['max_tier_share_diff_points']} pts -> {'PASS' if c['passed'] else 'FAIL'}",
                  file=sys.stderr, flush=True)
            runs.append(report)
    finally:
        serve.shutdown()
        ray.shutdown()
    doc = {
        "scenario": str(args.scenario.relative_to(ROOT) if args.scenario.is_relative_to(ROOT) else args.scenario),
        "targets": {"slo_attainment_points": 3.0, "tier_share_points": 5.0},
        "summary": [{"epoch": r["epoch"], "platform_ms": r["calibration"]["platform_ms"],
                     "ingress_ms": r["calibration"]["ingress_ms"],
                     "attainment_sim": r["comparison"]["slo_attainment"]["sim"],
                     "attainment_live": r["comparison"]["slo_attainment"]["live"],
                     "attainment_diff_points": r["comparison"]["slo_attainment"]["diff_points"],
                     "max_tier_share_diff_points": r["comparison"]["max_tier_share_diff_points"],
                     "passed": r["comparison"]["passed"]} for r in runs],
        "all_passed": bool(runs) and all(r["comparison"]["passed"] for r in runs),
        "runs": runs,
        "wall_s": round(time.perf_counter() - t0, 1),
    }
    print(json.dumps(doc, indent=2))
    _write_atomic(args.out, doc)
    return 0 if doc["all_passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
