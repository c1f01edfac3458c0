"""Limits that hold across gateway replicas (issue 11): a tenant limited to ``--rpm`` requests per minute, offered
twice that for ``--minutes`` of sustained overload through ``--replicas`` gateway replicas, gets ``rpm`` +/- 5% per
minute, not ``rpm`` x replicas.

    PYTHONPATH=. .venv/bin/python bench/bench_limits.py [--rpm 600] [--replicas 2] [--minutes 1]

One local Ray instance, digits-mlp on every tier (emulation off), the tenant's requests sent open-loop from this
process to 127.0.0.1 only. The bucket starts full (``burst`` = the default, the rpm), so the first minute may admit
the bucket plus a minute's refill: the figure that matters is the steady minute after it (``--warm-s`` of load
first, default 60 s). Prints the counts per minute and writes results/bench_limits.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

from maas.loadtest.stubserver import free_port
from maas.serving.ray_env import apply_ray_env

apply_ray_env()

import aiohttp  # noqa: E402
import ray  # noqa: E402
from ray import serve  # noqa: E402

from maas.clock import WallClock  # noqa: E402
from maas.metering import Keys, Tenants, load_server_secret  # noqa: E402
from maas.serving import platform  # noqa: E402
from maas.serving.layout import load_layout  # noqa: E402
from maas.serving.readiness import wait_until_serving  # noqa: E402
from maas.settings import ROOT, load_settings  # noqa: E402
from maas.store import make_engine  # noqa: E402
from maas.tiers import load_topology  # noqa: E402

MODEL = "digits-mlp"
BODY = {"inputs": [{"name": "pixels", "datatype": "FP32", "shape": [1, 64], "data": [0.0] * 64}]}


async def offer(url: str, headers: dict[str, str], rate_rps: float, duration_s: float) -> list[tuple[float, int]]:
    """Open loop at ``rate_rps`` for ``duration_s``: (send time from the start, status; -1 no answer)."""
    out: list[tuple[float, int]] = []
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:

        async def one(at_s: float) -> None:
            try:
                async with session.post(url, json=BODY, headers=headers) as resp:
                    await resp.read()
                    out.append((at_s, resp.status))
            except (aiohttp.ClientError, asyncio.TimeoutError):
                out.append((at_s, -1))

        start, n, tasks = time.monotonic(), 0, []
        while (now := time.monotonic() - start) < duration_s:
            while n < now * rate_rps:
                tasks.append(asyncio.create_task(one(n / rate_rps)))
                n += 1
            await asyncio.sleep(0.002)  # the open loop's pacing tick
        await asyncio.gather(*tasks)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rpm", type=int, default=600)
    ap.add_argument("--replicas", type=int, default=2)
    ap.add_argument("--minutes", type=int, default=1, help="steady minutes measured after the warm-up")
    ap.add_argument("--warm-s", type=float, default=60.0, help="overload before the measured minutes")
    args = ap.parse_args()
    data_dir = Path(tempfile.mkdtemp(prefix="maas-bench-limits-"))
    settings = load_settings(None, port=free_port(), grpc_port=free_port(), network_emulation=0.0, compute_emulation=0.0,
                             gateway_replicas=args.replicas, data_dir=data_dir)
    topology = load_topology(settings.topology_path)
    layout = load_layout(settings.layout_path, topology.tier_names)
    resources = {s.ray_resource: layout.embedded.tier_units for s in topology.tiers.values()}
    ray.init(address="local", num_cpus=2, resources=resources, include_dashboard=False, namespace="serve",
             log_to_driver=False)
    try:
        platform.start_serve(settings)
        placements = {MODEL: list(topology.tier_names)}
        platform.deploy_models(settings, placements)
        from maas.api.service import prepare_service

        prepare_service(settings, WallClock())
        engine = make_engine(settings.effective_database_url())
        Tenants(engine, WallClock()).create("capped", rpm=args.rpm)
        key = Keys(engine, load_server_secret(data_dir), WallClock()).create("capped").key
        platform.deploy_gateway(settings)
        wait_until_serving(settings, placements, timeout_s=300)
        url = f"http://{settings.host}:{settings.port}/v2/models/{MODEL}/infer"
        rate = 2.0 * args.rpm / 60.0
        total_s = args.warm_s + 60.0 * args.minutes
        print(f"offering {rate:g} req/s for {total_s:g} s through {args.replicas} gateway replicas", file=sys.stderr)
        sent = asyncio.run(offer(url, {"Authorization": f"Bearer {key}"}, rate, total_s))
    finally:
        serve.shutdown()
        ray.shutdown()
    minutes = []
    for m in range(int(total_s // 60)):
        window = [s for t, s in sent if 60.0 * m <= t < 60.0 * (m + 1)]
        minutes.append({"minute": m + 1, "sent": len(window), "ok": window.count(200), "refused": window.count(429),
                        "other": len([s for s in window if s not in (200, 429)])})
    steady = [m for m in minutes if (m["minute"] - 1) * 60.0 >= args.warm_s]
    for m in minutes:
        tag = "steady" if m in steady else "warm-up (bucket starts full)"
        print(f"minute {m['minute']}: sent {m['sent']}, 200 {m['ok']}, 429 {m['refused']}, other {m['other']}  {tag}")
    ratio = [m["ok"] / args.rpm for m in steady]
    print(f"steady minutes admitted / rpm: {', '.join(f'{r:.3f}' for r in ratio)} (target 1 +/- 0.05; "
          f"{args.replicas} replicas would admit up to {args.replicas}x without a shared authority)")
    out = ROOT / "results" / "bench_limits.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"args": vars(args), "minutes": minutes, "steady_ratio": ratio}, indent=2))
    return 0 if steady and all(abs(r - 1.0) <= 0.05 for r in ratio) else 1


if __name__ == "__main__":
    sys.exit(main())
