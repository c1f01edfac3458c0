"""Benchmark of the load-test harness itself against a trivial local V2 server.

Target (issue 5): 2,000 req/s offered for 60 s with achieved >= 0.99 x target and dispatch lateness p99 <= 2 ms,
plus the harness's own ceiling (the highest Poisson rate whose run stays VALID with the same bounds, found by
doubling and bisection with short trials). The server is ``maas.loadtest.stubserver`` (aiohttp + uvloop) in
several processes sharing one port (SO_REUSEPORT), answering at once. The machine's load average is recorded
before and after because other processes share the cores.

    python bench/bench_loadtest.py                       # the target run + the ceiling search
    python bench/bench_loadtest.py --no-ceiling --rate 2000 --duration 60 --json bench-loadtest.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path


def _run(url: str, rate: float, duration: float, workers: int | None, max_lateness_ms: float) -> dict:
    from maas.loadtest import LoadTestSpec, run_loadtest, single_model_mix
    from maas.loadtest.schedule import ArrivalSpec

    spec = LoadTestSpec(
        url=url,
        mix=single_model_mix("digits-mlp"),
        arrival=ArrivalSpec(rate_rps=rate, duration_s=duration),
        workers=workers,
        max_lateness_p99_ms=max_lateness_ms,
        min_duration_s=min(10.0, duration / 2),
        min_requests=min(500, int(rate * duration / 2)),
        timeout_s=10.0,
    )
    out = run_loadtest(spec)
    s = out.summary
    return {
        "rate_rps": rate,
        "duration_s": duration,
        "workers": out.result["config"]["workers"],
        "verdict": s["verdict"],
        "target_rps": s["target_rps"],
        "scheduled_rps": s["scheduled_rps"],
        "achieved_rps": s["achieved_rps"],
        "achieved_ratio": round(s["achieved_rps"] / s["scheduled_rps"], 4),
        "requests": s["requests"],
        "errors": s["errors"],
        "lateness_ms": s["lateness_ms"],
        "latency_ms": s["latency_ms"],
        "service_ms": s["service_ms"],
        "failed_checks": [c["name"] for c in s["checks"] if not c["ok"]],
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rate", type=float, default=2000.0)
    ap.add_argument("--duration", type=float, default=60.0)
    ap.add_argument("--workers", type=int, default=None, help="generator processes (default: by rate)")
    ap.add_argument("--server-processes", type=int, default=2)
    ap.add_argument("--max-lateness-ms", type=float, default=2.0)
    ap.add_argument("--ceiling", action=argparse.BooleanOptionalAction, default=True)
    ap.add_argument("--ceiling-trial-s", type=float, default=10.0)
    ap.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = ap.parse_args()

    from maas.loadtest.peak import Trial, find_peak
    from maas.loadtest.stubserver import StubServer, StubSettings

    report: dict = {"machine": {"cpu_count": os.cpu_count(), "loadavg_before": os.getloadavg()}}
    settings = StubSettings(delay_ms=0.0, models=("digits-mlp",), trivial=True)
    with StubServer(settings, processes=args.server_processes) as srv:
        _run(srv.url, 200.0, 2.0, 1, args.max_lateness_ms)  # warm the server processes
        t0 = time.monotonic()
        target = _run(srv.url, args.rate, args.duration, args.workers, args.max_lateness_ms)
        target["wall_s"] = round(time.monotonic() - t0, 1)
        target["meets_target"] = target["achieved_ratio"] >= 0.99 and target["lateness_ms"]["p99"] <= 2.0
        report["target_run"] = target
        report["machine"]["loadavg_after_target"] = os.getloadavg()
        print(json.dumps({"target_run": target}, indent=1), flush=True)
        if args.ceiling:

            def measure(rate: float) -> Trial:
                r = _run(srv.url, rate, args.ceiling_trial_s, args.workers, args.max_lateness_ms)
                print(
                    f"  ceiling trial {rate:8.0f} rps: {r['verdict']} achieved x{r['achieved_ratio']:.4f} "
                    f"lateness p99 {r['lateness_ms']['p99']} ms {r['failed_checks']}",
                    flush=True,
                )
                return Trial(rate, r["verdict"] == "VALID", r["verdict"], r)

            peak = find_peak(measure, start_rps=args.rate, max_rps=32_000, tolerance=0.1, max_trials=7)
            report["ceiling"] = {
                "valid_up_to_rps": peak.peak_rps,
                "first_invalid_rps": peak.lowest_failing_rps,
                "trial_s": args.ceiling_trial_s,
                "trials": [
                    {
                        "rate_rps": t.rate_rps,
                        "verdict": t.verdict,
                        "achieved_ratio": t.summary["achieved_ratio"],
                        "lateness_p99_ms": t.summary["lateness_ms"]["p99"],
                        "failed_checks": t.summary["failed_checks"],
                    }
                    for t in peak.trials
                ],
            }
    report["machine"]["loadavg_after"] = os.getloadavg()
    print(json.dumps(report, indent=1))
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))
    return 0 if report["target_run"]["meets_target"] else 1


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing
    sys.exit(main())
