"""Autoscaling inside each tier's capacity (issue 13, part 4): a load step on the default mix, and the timeline of
active slots, attainment and p99 per 5 s.

The platform is started as bench/local_platform.py does, with cluster/topology-autoscaling.yaml (every (model,
tier) between 1 slot and its tier's slots, ``maas.placement.autoscaling``). The load is open-loop Poisson on the
default mix: ``--before-s`` at ``--low`` req/s, ``--step-s`` at ``--high``, ``--after-s`` at ``--low``. A sampler
reads ``maas_active_slots`` from ``/metrics`` every second meanwhile.

Judged (the issue's target):
- recovery: from the step up to the start of the first 5-s window from which every window of the high phase has
  attainment >= 0.99 (0 if none dips): at most 30 s;
- return: from the step down until every (model, tier) is back at its minimum and stays there: within the run.

``--fixed`` runs the same load on cluster/topology.yaml (every slot always active) for comparison; the slot-seconds
kept active, and the idle power they draw (``idle_w / slots * PUE`` per active slot), are printed for both.
``--compute-emulation X`` scales the emulated device time (X times slower devices), where slots bind sooner.

Usage: make autoscale, or PYTHONPATH=. .venv/bin/python -m bench.bench_autoscaling [--low 20 --high 200 --before-s 30 --step-s 60 --after-s 60]
           [--fixed] [--compute-emulation 1.0] [--out results/autoscaling.json]
Never run it while another Ray test or benchmark runs (one Ray instance per machine).
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parents[1]
WINDOW_S = 5
TARGET_ATTAINMENT = 0.99
TARGET_RECOVERY_S = 30.0


class SlotSampler(threading.Thread):
    """Reads ``maas_active_slots`` per (model, tier) from ``/metrics`` every ``every_s`` until stopped."""

    def __init__(self, url: str, admin_key: str, every_s: float = 1.0) -> None:
        super().__init__(daemon=True)
        self.url, self.key, self.every_s = url, admin_key, every_s
        self.samples: list[tuple[float, dict[tuple[str, str], float]]] = []
        self.t0 = time.monotonic()
        self._halt = threading.Event()

    def read(self) -> dict[tuple[str, str], float]:
        request = urllib.request.Request(f"{self.url}/metrics", headers={"Authorization": f"Bearer {self.key}"})
        with urllib.request.urlopen(request, timeout=5) as response:
            text = response.read().decode()
        return {(s.labels["model"], s.labels["tier"]): s.value for family in text_string_to_metric_families(text)
                if family.name == "maas_active_slots" for s in family.samples}

    def run(self) -> None:
        while not self._halt.is_set():
            try:
                self.samples.append((time.monotonic() - self.t0, self.read()))
            except OSError as exc:  # a slow scrape: note it, keep sampling
                print(f"  /metrics scrape failed: {exc}", file=sys.stderr)
            self._halt.wait(self.every_s)

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=10)


def _load(url: str, key: str, args) -> Any:
    from maas.loadtest.harness import LoadTestSpec, run_loadtest
    from maas.loadtest.mix import default_mix
    from maas.loadtest.schedule import ArrivalSpec

    steps = [(args.before_s, args.low), (args.step_s, args.high), (args.after_s, args.low)]
    spec = LoadTestSpec(url=url, mix=default_mix(), arrival=ArrivalSpec(kind="steps", steps=steps), seed=args.seed,
                        warmup_s=0.0, timeout_s=5.0, headers={"Authorization": f"Bearer {key}"},
                        max_lateness_p99_ms=25.0)
    return run_loadtest(spec)


def timeline(result: dict[str, Any], samples: list[tuple[float, dict]], offset_s: float, topology,
             minimum: dict[str, int]) -> list[dict[str, Any]]:
    """Per 5-s window of intended send time: requests, attainment, worst 1-s p99, mean active slots per tier."""
    ts = result["timeseries"]
    rows = []
    for start in range(0, int(ts["t_s"][-1]) + 1, WINDOW_S):
        idx = [i for i, t in enumerate(ts["t_s"]) if start <= t < start + WINDOW_S]
        count = sum(ts["count"][i] for i in idx)
        met = sum(ts["attainment"][i] * ts["count"][i] for i in idx if ts["attainment"][i] is not None)
        inside = [s for t, s in samples if start <= t - offset_s < start + WINDOW_S]
        slots = {tier: round(sum(sum(v for (_, t), v in s.items() if t == tier) for s in inside) / len(inside), 2)
                 if inside else None for tier in topology.tier_names}
        rows.append({"t_s": start, "requests": count, "attainment": met / count if count else None,
                     "p99_ms": max((ts["p99_ms"][i] for i in idx), default=None), "slots": slots})
    return rows


def judge(rows: list[dict[str, Any]], samples: list[tuple[float, dict]], offset_s: float, args,
          minimum: dict[str, int]) -> dict[str, Any]:
    step_up, step_down = args.before_s, args.before_s + args.step_s
    high = [r for r in rows if step_up <= r["t_s"] < step_down]
    recovered_at = None
    for k, row in enumerate(high):
        if all(r["attainment"] is not None and r["attainment"] >= TARGET_ATTAINMENT for r in high[k:]):
            recovered_at = row["t_s"]
            break
    recovery_s = None if recovered_at is None else recovered_at - step_up

    def at_min(s: dict) -> bool:
        return all(v <= minimum[tier] for (_, tier), v in s.items())

    after = [(t - offset_s, s) for t, s in samples if t - offset_s >= step_down]
    back_at = None
    for k, (t, _) in enumerate(after):
        if all(at_min(s) for _, s in after[k:]):
            back_at = t
            break
    peak = {}
    for _, s in samples:
        for (_, tier), v in s.items():
            peak[tier] = max(peak.get(tier, 0), v)
    late = [r for r in high if r["t_s"] >= step_up + TARGET_RECOVERY_S and r["attainment"] is not None]
    late_n = sum(r["requests"] for r in late)
    return {"recovery_s": recovery_s, "recovery_ok": recovery_s is not None and recovery_s <= TARGET_RECOVERY_S,
            "high_windows_below": sum(r["attainment"] is not None and r["attainment"] < TARGET_ATTAINMENT
                                      for r in high),
            "high_after_30_s_attainment": (sum(r["attainment"] * r["requests"] for r in late) / late_n
                                           if late_n else None),
            "back_to_min_s": None if back_at is None else round(back_at - step_down, 1),
            "back_to_min_ok": back_at is not None,
            "worst_high_window_attainment": min((r["attainment"] for r in high if r["attainment"] is not None),
                                                default=None), "peak_slots_per_pair_by_tier": peak}


def slot_seconds(samples: list[tuple[float, dict]], topology) -> tuple[float, float]:
    """(active slot-seconds, their idle energy in J) over the samples (step integral, 1-s samples)."""
    slot_s = idle_j = 0.0
    for (t, s), (t_next, _) in zip(samples, samples[1:], strict=False):
        for (_, tier), v in s.items():
            spec = topology.tiers[tier]
            slot_s += v * (t_next - t)
            idle_j += v * (t_next - t) * spec.energy.idle_w / spec.slots * spec.energy.pue
    return round(slot_s, 1), round(idle_j, 1)


def run_one(topology_path: Path, args) -> dict[str, Any]:
    from bench.local_platform import local_platform  # sets Ray's environment before ray is imported
    from maas.tiers import load_topology

    topology = load_topology(topology_path)
    minimum = {n: (t.autoscaling.min_slots if t.autoscaling else t.slots) for n, t in topology.tiers.items()}
    with local_platform(topology_path=topology_path, compute_emulation=args.compute_emulation) as platform:
        sampler = SlotSampler(platform.url, platform.admin_key)
        sampler.start()
        offset_s = time.monotonic() - sampler.t0  # the load's t=0 (its probe adds well under a second)
        outcome = _load(platform.url, platform.bench_key, args)
        sampler.stop()
    rows = timeline(outcome.result, sampler.samples, offset_s, topology, minimum)
    verdict = judge(rows, sampler.samples, offset_s, args, minimum)
    slot_s, idle_j = slot_seconds(sampler.samples, topology)
    summary = outcome.summary
    autoscaled = any(t.autoscaling is not None for t in topology.tiers.values())
    return {"topology": str(topology_path.relative_to(ROOT)), "autoscaled": autoscaled, "timeline": rows,
            "verdict": verdict,
            "active_slot_seconds": slot_s, "idle_energy_j": idle_j, "attainment": summary["slo_attainment"],
            "p99_ms": summary["latency_ms"]["p99"], "requests": summary["requests"], "errors": summary["errors"],
            "valid": summary["verdict"]}


def table(name: str, run: dict[str, Any]) -> str:
    tiers = list(run["timeline"][0]["slots"])
    lines = [f"{name} ({run['topology']}): attainment {run['attainment']:.4f}, p99 {run['p99_ms']:.1f} ms, "
             f"{run['requests']} requests, {run['errors']} errors, {run['valid']}; active slot-seconds "
             f"{run['active_slot_seconds']}, their idle energy {run['idle_energy_j']} J",
             "  t_s  requests  attainment  p99_ms  " + "  ".join(f"{t[:8]:>8}" for t in tiers)]
    for r in run["timeline"]:
        att = "-" if r["attainment"] is None else f"{r['attainment']:.4f}"
        p99 = "-" if r["p99_ms"] is None else f"{r['p99_ms']:.1f}"
        slots = "  ".join("       -" if r["slots"][t] is None else f"{r['slots'][t]:8.2f}" for t in tiers)
        lines.append(f"{r['t_s']:5d}  {r['requests']:8d}  {att:>10}  {p99:>6}  {slots}")
    v = run["verdict"]
    lines.append(f"  recovery to >= {TARGET_ATTAINMENT} per 5 s: {v['recovery_s']} s (target <= {TARGET_RECOVERY_S:g} s: "
                 f"{'met' if v['recovery_ok'] else 'MISSED'}); worst high-load window {v['worst_high_window_attainment']}")
    lines.append(f"  high load: {v['high_windows_below']} windows below {TARGET_ATTAINMENT}; attainment from 30 s "
                 f"after the step to its end {v['high_after_30_s_attainment']}")
    if run["autoscaled"]:
        lines.append(f"  every pair back at its minimum {v['back_to_min_s']} s after the step down "
                     f"({'met' if v['back_to_min_ok'] else 'MISSED'}); peak slots of a pair by tier "
                     f"{v['peak_slots_per_pair_by_tier']}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--low", type=float, default=20.0)
    parser.add_argument("--high", type=float, default=200.0)
    parser.add_argument("--before-s", type=float, default=30.0)
    parser.add_argument("--step-s", type=float, default=60.0)
    parser.add_argument("--after-s", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--compute-emulation", type=float, default=1.0)
    parser.add_argument("--fixed", action="store_true", help="also run with every slot always active")
    parser.add_argument("--fixed-first", action="store_true", help="with --fixed: run it first (order effects)")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "autoscaling.json")
    args = parser.parse_args()
    order = ["autoscaled", "fixed"] if args.fixed else ["autoscaled"]
    topologies = {"autoscaled": "topology-autoscaling.yaml", "fixed": "topology.yaml"}
    runs = {}
    for name in (reversed(order) if args.fixed_first else order):
        runs[name] = run_one(ROOT / "cluster" / topologies[name], args)
        print(table(name, runs[name]), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "runs": runs}, indent=1))
    print(f"results: {args.out}")
    verdict = runs["autoscaled"]["verdict"]
    return 0 if verdict["recovery_ok"] and verdict["back_to_min_ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
