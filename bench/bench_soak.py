"""``make soak DURATION=3600``: the default mix at 50% of capacity on a local platform (bench/local_platform.py) for
DURATION seconds, as back-to-back 60 s open-loop runs of the load-test harness; before each minute the RSS of
every process of the platform (the descendants of this process: Ray's GCS, raylet, Serve controller, proxy,
gateway and tier replicas; the generator's own processes excluded) from /proc. Reports RSS growth after the
warm-up (``--warmup-min``) and the drift of the per-minute p99 (first vs last three minutes after warm-up).
Writes results/soak.json. A benchmark, not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                ppid = int(Path(f"/proc/{d}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            kids.setdefault(ppid, []).append(int(d))
    return kids


def platform_rss_mb() -> dict[str, float]:
    """RSS (MB) of every descendant of this process, keyed 'pid name' (generator processes excluded)."""
    out: dict[str, float] = {}
    kids = _children()
    stack = list(kids.get(os.getpid(), []))
    while stack:
        pid = stack.pop()
        stack.extend(kids.get(pid, []))
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            rss_kb = next(int(line.split()[1]) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                          if line.startswith("VmRSS:"))
        except (OSError, StopIteration, ValueError):
            continue
        if "maas-loadtest" in cmd or "forkserver" in cmd or "multiprocessing" in cmd:
            continue
        name = Path(cmd.split()[0]).name if cmd.strip() else "?"
        if "ray::" in cmd:
            name = cmd.split()[0]
        out[f"{pid} {name}"[:80]] = round(rss_kb / 1024.0, 1)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration-s", type=float, default=3600.0)
    ap.add_argument("--peak-rps", type=float, required=True, help="capacity (find-peak's knee); soak at 50%%")
    ap.add_argument("--warmup-min", type=int, default=2)
    ap.add_argument("--out", type=Path, default=ROOT / "results" / "soak.json")
    args = ap.parse_args()
    from bench.local_platform import local_platform
    from maas.loadtest.harness import LoadTestSpec, run_loadtest
    from maas.loadtest.mix import default_mix
    from maas.loadtest.schedule import ArrivalSpec

    rate = 0.5 * args.peak_rps
    minutes = max(1, int(args.duration_s // 60))
    samples = []
    with local_platform() as plat:
        headers = plat.bearer(plat.dev_key)
        for m in range(minutes):
            rss = platform_rss_mb()
            spec = LoadTestSpec(url=plat.url, mix=default_mix(), arrival=ArrivalSpec(rate_rps=rate, duration_s=60.0),
                                seed=100 + m, warmup_s=0.0, timeout_s=5.0, headers=headers, min_requests=100)
            s = run_loadtest(spec).summary
            samples.append({"minute": m, "rss_total_mb": round(sum(rss.values()), 1), "rss_mb": rss,
                            "p99_ms": s["latency_ms"]["p99"], "p50_ms": s["latency_ms"]["p50"],
                            "goodput_rps": s["goodput_rps"], "attainment": s["slo_attainment"],
                            "errors": s["errors"], "verdict": s["verdict"], "t": time.time()})
            print(f"minute {m}: RSS {samples[-1]['rss_total_mb']:.0f} MB over {len(rss)} processes, "
                  f"p99 {s['latency_ms']['p99']} ms, goodput {s['goodput_rps']:.1f} req/s, errors {s['errors']}",
                  file=sys.stderr, flush=True)
    after = samples[args.warmup_min:] or samples
    k = min(3, max(1, len(after) // 2))
    rss0, rss1 = after[0]["rss_total_mb"], after[-1]["rss_total_mb"]
    p99_0 = statistics.median(s["p99_ms"] for s in after[:k])
    p99_1 = statistics.median(s["p99_ms"] for s in after[-k:])
    first, last = after[0]["rss_mb"], after[-1]["rss_mb"]
    growth = sorted(((last[n] - first[n], n) for n in first if n in last), reverse=True)[:5]
    report = {"rate_rps": rate, "peak_rps": args.peak_rps, "minutes": minutes, "warmup_min": args.warmup_min,
              "rss_growth_pct": round(100.0 * (rss1 - rss0) / rss0, 2), "rss_after_warmup_mb": rss0,
              "rss_end_mb": rss1, "p99_drift_pct": round(100.0 * (p99_1 - p99_0) / p99_0, 2),
              "p99_first_ms": p99_0, "p99_last_ms": p99_1, "top_growth_mb": growth, "samples": samples}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1))
    print(f"soak: {minutes} min at {rate:.0f} req/s (50% of {args.peak_rps:.0f}); RSS {rss0:.0f} -> {rss1:.0f} MB "
          f"after a {args.warmup_min} min warm-up ({report['rss_growth_pct']:+.2f}%, target < 5%); p99 "
          f"{p99_0} -> {p99_1} ms ({report['p99_drift_pct']:+.2f}%, target < 10%); largest growth: {growth[:3]}")
    print(f"results: {args.out}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
