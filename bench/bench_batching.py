"""Dynamic batching through ``TierWorker`` in-process (no Ray): MiniLM throughput at saturation and p50 at one
client, batching off vs on, and throughput against ``max_batch_size``.

    .venv/bin/python bench/bench_batching.py [--variant int8] [--seconds 3] [--clients 64] [--slots 2]

The worker is built as the gateway builds a colocated one (text models run in the slots' threads, one onnxruntime
intra-op thread). int8 MiniLM is dynamically quantised, so its outputs shift slightly with the batch: it is batched
here with ``allow_inexact`` (the default refuses it). Rows alternate off/on in one process: compare ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from pathlib import Path

import numpy as np

from maas.api.tier_batcher import BatchPolicy
from maas.api.tier_worker import TierWorker
from maas.clock import WallClock
from maas.models import load_catalog

TEXT = np.array(["The pump on line three is vibrating more than usual.".encode()], dtype=object)


def worker(models_dir: Path, variant: str, slots: int, batch: int, delay_ms: float) -> TierWorker:
    manifest = load_catalog(models_dir).get("minilm-embed")
    return TierWorker(manifest, models_dir, tier="bench", variant=variant, slots=slots, clock=WallClock(),
                      offload_above_ms=1.0, batching=BatchPolicy(batch, delay_ms, allow_inexact=True))


async def closed_loop(w: TierWorker, clients: int, seconds: float) -> tuple[float, float, float]:
    """(requests/s, p50 ms, mean batch size) of ``clients`` callers each sending the next request when one ends."""
    latencies: list[float] = []
    sizes: list[int] = []
    end = time.perf_counter() + seconds

    async def client() -> None:
        while time.perf_counter() < end:
            t0 = time.perf_counter()
            r = await w.infer({"text": TEXT})
            latencies.append((time.perf_counter() - t0) * 1e3)
            sizes.append(r.batch_size or 1)

    t0 = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    took = time.perf_counter() - t0
    return len(latencies) / took, statistics.median(latencies), statistics.fmean(sizes)


async def run() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models-dir", default="models/build")
    ap.add_argument("--variant", default="int8")
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--clients", type=int, default=64)
    ap.add_argument("--slots", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    md = Path(args.models_dir)
    sizes = [1, 2, 4, 8, 16, 32]
    workers = {b: worker(md, args.variant, args.slots, b, 0.0) for b in sizes}
    curve: dict[int, list[float]] = {b: [] for b in sizes}
    mean_batch: dict[int, float] = {}
    low: dict[str, list[float]] = {"off": [], "on": []}
    for _ in range(args.rounds):  # alternate so a noisy neighbour hits both sides alike
        for b in sizes:
            rps, _, mb = await closed_loop(workers[b], args.clients, args.seconds)
            curve[b].append(rps)
            mean_batch[b] = mb
        for name, b in (("off", 1), ("on", 32)):
            low[name].append((await closed_loop(workers[b], 1, args.seconds / 2))[1])
    rps = {b: max(v) for b, v in curve.items()}
    report = {
        "variant": args.variant, "slots": args.slots, "clients": args.clients,
        "profile_ms_at_32": {k: round(v, 2) for k, v in workers[32].batch_profile_ms.items()},
        "throughput_rps": {b: round(v, 1) for b, v in rps.items()},
        "mean_batch": {b: round(v, 1) for b, v in mean_batch.items()},
        "speedup_32_vs_off": round(rps[32] / rps[1], 2),
        "p50_1client_ms": {k: round(min(v), 3) for k, v in low.items()},
        "p50_1client_on_minus_off_ms": round(min(low["on"]) - min(low["off"]), 3),
    }
    print(json.dumps(report, indent=1))
    for w in workers.values():
        w.close()


if __name__ == "__main__":
    asyncio.run(run())
