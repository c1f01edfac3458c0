"""``make bench``: the platform's V2 path against (a) plain uvicorn+FastAPI+onnxruntime and (b) bare two-hop Ray Serve.

One run, same machine, same model (digits-mlp fp32), same V2 JSON body. Latency: p50/p99 at concurrency 1
(closed loop, measured per request, the paths interleaved request by request). Throughput: completed requests per
second with N concurrent clients (closed loop, saturation; each path's seconds in 4 alternating slices). The
platform runs with routing on, emulated network/compute set to zero, and a tenant key (auth, limits, metering and
metrics all on). Paths:
- ``plain``: one uvicorn process running onnxruntime (what a user could write in an afternoon);
- ``bare``: bare Ray Serve, an ingress and, like for like, as many single-replica deployments of the model as the
  platform has tiers, taken in turn (``--bare-replicas 1``: one);
- ``platform``: the embedded default, every tier's worker beside the gateway (one hop less, maas.serving.colocated);
- ``platform-2hop``: a second gateway with ``colocated_tiers`` off, every request over Ray to the tier's replica
  as in a multi-node cluster: the service layers' cost against bare Serve like for like (``--no-two-hop``: skip);
- ``platform-grpc``: the same gateway's gRPC endpoint (maas.api.grpc_service): ModelInfer with the same row in
  raw_input_contents and the same key, from a grpc.aio stub in this process, one HTTP/2 channel carrying the
  clients' calls (``--no-grpc``: skip).
Prints a table and the ratios to bare and plain (the median over rounds of each round's ratio); writes
results/bench_serving.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from maas.loadtest.stubserver import free_port  # noqa: E402
from maas.serving.ray_env import apply_ray_env

apply_ray_env()

import aiohttp  # noqa: E402
import grpc  # noqa: E402
import numpy as np  # noqa: E402
import ray  # noqa: E402
from ray import serve  # noqa: E402

from bench.baselines import bare_serve_app  # noqa: E402
from maas.serving.layout import load_layout  # noqa: E402
from maas.settings import ROOT, load_settings  # noqa: E402
from maas.tiers import load_topology  # noqa: E402

MODEL = "digits-mlp"



def body() -> bytes:
    from sklearn.datasets import load_digits

    row = load_digits().data[0].astype(np.float32)
    return json.dumps({"inputs": [{"name": "pixels", "datatype": "FP32", "shape": [1, 64], "data": row.tolist()}]}).encode()


HEADERS = {"Content-Type": "application/json"}  # + the bench tenant's key, sent to every path alike


class GrpcPath:
    """A path served over gRPC at ``target`` (host:port): ``ModelInfer`` of the same row, raw bytes, same key."""

    def __init__(self, target: str) -> None:
        from tritonclient.grpc import service_pb2 as pb

        self.target = target
        row = json.loads(body())["inputs"][0]["data"]
        self.request = pb.ModelInferRequest(model_name=MODEL, raw_input_contents=[np.asarray(row, "<f4").tobytes()])
        self.request.inputs.add(name="pixels", datatype="FP32", shape=[1, 64])

    def open(self):
        """A grpc.aio channel (one HTTP/2 connection) and the ModelInfer call of this event loop."""
        from tritonclient.grpc import service_pb2_grpc as pb_grpc

        channel = grpc.aio.insecure_channel(self.target)
        stub = pb_grpc.GRPCInferenceServiceStub(channel)
        auth = HEADERS.get("Authorization")
        metadata = (("authorization", auth),) if auth else ()

        async def call() -> None:
            await stub.ModelInfer(self.request, metadata=metadata, timeout=60)

        return channel, call


def _http_call(session: aiohttp.ClientSession, url: str, payload: bytes):
    async def call() -> None:
        async with session.post(url, data=payload, headers=HEADERS) as resp:
            await resp.read()
            if resp.status != 200:
                raise RuntimeError(f"{url} answered {resp.status}")

    return call


async def wait_ok(url: str | GrpcPath, payload: bytes, timeout_s: float = 240) -> None:
    deadline = time.monotonic() + timeout_s
    last = "no answer"
    if isinstance(url, GrpcPath):
        channel, call = url.open()
        async with channel:
            while time.monotonic() < deadline:
                try:
                    return await call()
                except grpc.aio.AioRpcError as exc:
                    last = f"{exc.code().name} {exc.details()}"
                await asyncio.sleep(0.2)
        raise RuntimeError(f"gRPC {url.target} never answered OK: {last}")
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            try:
                async with session.post(url, data=payload, headers=HEADERS) as resp:
                    if resp.status == 200:
                        return
                    last = f"{resp.status} {(await resp.text())[:300]}"
            except aiohttp.ClientError as exc:
                last = repr(exc)
            await asyncio.sleep(0.2)
    raise RuntimeError(f"{url} never answered 200: {last}")


async def latency_ms(urls: dict[str, str | GrpcPath], payload: bytes, n: int) -> dict[str, np.ndarray]:
    """``n`` requests per path at concurrency 1, interleaved request by request (the order rotating), so the
    paths share whatever else the host is doing: on this VM a path's p50 moved 4.3-8.4 ms between back-to-back
    blocks of 1,500, more than the difference being measured."""
    names = list(urls)
    out = {name: np.empty(n) for name in names}
    async with aiohttp.ClientSession() as session:
        calls, channels = {}, []
        for name, url in urls.items():
            if isinstance(url, GrpcPath):
                channel, calls[name] = url.open()
                channels.append(channel)
            else:
                calls[name] = _http_call(session, url, payload)
        try:
            for _ in range(max(50, n // 10)):  # warm-up
                for call in calls.values():
                    await call()
            for i in range(n):
                k = i % len(names)
                for name in names[k:] + names[:k]:
                    t0 = time.perf_counter()
                    await calls[name]()
                    out[name][i] = (time.perf_counter() - t0) * 1e3
        finally:
            for channel in channels:
                await channel.close()
    return out


async def throughput_rps(url: str | GrpcPath, payload: bytes, concurrency: int,
                         duration_s: float) -> tuple[int, float]:
    """Completed requests and elapsed seconds of ``concurrency`` closed-loop clients for ``duration_s`` (over
    gRPC: the clients' calls share one channel, as a grpc client's calls do)."""
    headers = HEADERS
    done = 0
    stop_at = time.perf_counter() + duration_s

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal done
        while time.perf_counter() < stop_at:
            async with session.post(url, data=payload, headers=headers) as resp:
                await resp.read()
                if resp.status == 200:
                    done += 1

    async def grpc_worker(call) -> None:
        nonlocal done
        while time.perf_counter() < stop_at:
            try:
                await call()
                done += 1
            except grpc.aio.AioRpcError:
                pass

    if isinstance(url, GrpcPath):
        channel, call = url.open()
        async with channel:
            t0 = time.perf_counter()
            await asyncio.gather(*(grpc_worker(call) for _ in range(concurrency)))
            return done, time.perf_counter() - t0
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        t0 = time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
        elapsed = time.perf_counter() - t0
    return done, elapsed


def interleaved_rps(urls: dict[str, str | GrpcPath], payload: bytes, concurrency: int, duration_s: float,
                    slices: int = 4) -> dict[str, float]:
    """Each path's saturation throughput over ``duration_s``, run as ``slices`` alternating slices (order rotating)
    so a slow minute of the host is shared by every path rather than landing on one."""
    names = list(urls)
    done = {n: 0 for n in names}
    elapsed = {n: 0.0 for n in names}
    for name in names:  # warm-up at saturation (connections, caches, the router's learned estimates), not counted
        asyncio.run(throughput_rps(urls[name], payload, concurrency, min(2.0, duration_s / slices)))
    for k in range(slices):
        for name in names[k % len(names):] + names[:k % len(names)]:
            d, e = asyncio.run(throughput_rps(urls[name], payload, concurrency, duration_s / slices))
            done[name] += d
            elapsed[name] += e
    return {n: done[n] / elapsed[n] for n in names}


def bench_tenant_key(settings) -> str:
    """Migrate, bootstrap, and create the tenant the platform path runs as: a key and an rpm limit high enough
    never to refuse, so every request pays for authentication, a limiter lease and a journal record."""
    from maas.api.service import prepare_service
    from maas.clock import WallClock
    from maas.metering import Keys, Tenants, load_server_secret
    from maas.store import make_engine

    prepare_service(settings, WallClock())
    engine = make_engine(settings.effective_database_url())
    Tenants(engine, WallClock()).create("bench", rpm=1_000_000, burst=1_000_000)
    return Keys(engine, load_server_secret(settings.data_dir), WallClock()).create("bench").key


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=1500, help="requests for the concurrency-1 latency")
    parser.add_argument("--concurrency", type=int, default=16, help="clients for the saturation throughput")
    parser.add_argument("--seconds", type=float, default=8.0, help="duration of each throughput run")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; the median is reported")
    parser.add_argument("--no-auth", action="store_true",
                        help="the platform without keys and limits (still metered, as the anonymous tenant)")
    parser.add_argument("--bare-replicas", type=int, default=None,
                        help="one-replica deployments of the model in bare Serve (default: as many as the platform's tiers)")
    parser.add_argument("--no-two-hop", action="store_true",
                        help="skip the platform-2hop row (the platform with every tier over Ray, colocated_tiers off)")
    parser.add_argument("--no-grpc", action="store_true", help="skip the platform-grpc row (the gateway over gRPC)")
    args = parser.parse_args()

    models_dir = ROOT / "models" / "build"
    payload = body()
    plain_port, serve_port, grpc_port = free_port(), free_port(), free_port()
    plain = subprocess.Popen(
        [sys.executable, "-m", "bench.baselines", str(models_dir), MODEL, str(plain_port)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    from maas.serving import platform

    data_dir = Path(tempfile.mkdtemp(prefix="maas-bench-"))
    settings = load_settings(None, port=serve_port, grpc_port=0 if args.no_grpc else grpc_port, network_emulation=0.0,
                             compute_emulation=0.0, data_dir=data_dir, auth=not args.no_auth)
    topology = load_topology(settings.topology_path)
    resources = {s.ray_resource: load_layout(settings.layout_path, topology.tier_names).embedded.tier_units for s in topology.tiers.values()}
    ray.init(address="local", num_cpus=2, resources=resources, include_dashboard=False, namespace="serve", log_to_driver=False)
    try:
        platform.start_serve(settings)
        # like for like: the platform serves the model on every tier (one single-replica deployment each), so bare
        # Serve gets as many one-replica deployments of it, taken in turn by its ingress (--bare-replicas 1: one)
        replicas = args.bare_replicas or len(topology.tier_names)
        serve.run(bare_serve_app(str(models_dir), MODEL, replicas), name="bare", route_prefix="/bare")
        platform.deploy_models(settings, {MODEL: list(topology.tier_names)})
        if args.no_auth:
            from maas.api.service import prepare_service
            from maas.clock import WallClock

            prepare_service(settings, WallClock())
        else:
            HEADERS["Authorization"] = f"Bearer {bench_tenant_key(settings)}"  # auth, limits and metering all on
        platform.deploy_gateway(settings)
        urls: dict[str, str | GrpcPath] = {
            "plain": f"http://127.0.0.1:{plain_port}/v2/models/{MODEL}/infer",
            "bare": f"http://127.0.0.1:{serve_port}/bare/v2/models/{MODEL}/infer",
            "platform": f"http://127.0.0.1:{serve_port}/v2/models/{MODEL}/infer",
        }
        if not args.no_two_hop:  # the same platform with every tier over Ray: the service layers like for like
            platform.deploy_gateway(settings.model_copy(update={"colocated_tiers": "off"}), name="gateway-2hop",
                                    route_prefix="/2hop")
            urls["platform-2hop"] = f"http://127.0.0.1:{serve_port}/2hop/v2/models/{MODEL}/infer"
        if not args.no_grpc:  # the main gateway's gRPC endpoint: the same data plane behind another transport
            urls["platform-grpc"] = GrpcPath(f"127.0.0.1:{grpc_port}")
        for url in urls.values():
            asyncio.run(wait_ok(url, payload))
        results: dict[str, dict[str, list[float]]] = {k: {"p50": [], "p99": [], "rps": []} for k in urls}
        for _ in range(args.rounds):
            lat = asyncio.run(latency_ms(urls, payload, args.requests))
            rps_of = interleaved_rps(urls, payload, args.concurrency, args.seconds)
            for name in urls:
                rps = rps_of[name]
                results[name]["p50"].append(float(np.percentile(lat[name], 50)))
                results[name]["p99"].append(float(np.percentile(lat[name], 99)))
                results[name]["rps"].append(rps)
                print(f"  {name:14s} p50 {results[name]['p50'][-1]:.2f} ms  rps {rps:.0f}", file=sys.stderr, flush=True)
    finally:
        serve.shutdown()
        ray.shutdown()
        plain.terminate()
        plain.wait(timeout=30)

    summary = {k: {m: float(np.median(v)) for m, v in r.items()} for k, r in results.items()}

    def paired(metric: str, path: str, base: str) -> tuple[float, list[float]]:
        """The median over rounds of path/base within each round (a round's paths share the host's noise)."""
        per_round = [p / b for p, b in zip(results[path][metric], results[base][metric], strict=True)]
        return float(np.median(per_round)), [round(r, 3) for r in per_round]

    ratios, rounds = {}, {}
    for metric in ("p50", "rps"):
        for path in [p for p in ("platform", "platform-2hop", "platform-grpc") if p in results]:
            for base in ("bare", "plain") + (("platform",) if path == "platform-grpc" else ()):
                key = f"{path.replace('-', '_')}_{metric}_over_{base}"
                ratios[key], rounds[key] = paired(metric, path, base)
    print(f"\nmodel {MODEL}, {args.requests} requests at concurrency 1, {args.concurrency} clients x {args.seconds:.0f} s "
          f"for throughput, median of {args.rounds} rounds; the platform on {len(topology.tier_names)} tiers, bare Serve "
          f"with {replicas} one-replica deployment(s) of the model; keys and limits {'off' if args.no_auth else 'on'}, metering and metrics on")
    print(f"{'path':14s} {'p50 ms':>8s} {'p99 ms':>8s} {'req/s':>8s}")
    for name, s in summary.items():
        print(f"{name:14s} {s['p50']:8.2f} {s['p99']:8.2f} {s['rps']:8.0f}")
    print(f"platform/bare : p50 x{ratios['platform_p50_over_bare']:.2f} (target <= 1.15), "
          f"throughput x{ratios['platform_rps_over_bare']:.2f} (target >= 0.90); medians of the rounds' ratios: "
          f"p50 {rounds['platform_p50_over_bare']}, throughput {rounds['platform_rps_over_bare']}")
    print(f"platform/plain: p50 x{ratios['platform_p50_over_plain']:.2f} (target <= 2.5), "
          f"throughput x{ratios['platform_rps_over_plain']:.2f} (target >= 0.30)")
    if "platform-2hop" in results:
        print(f"platform-2hop/bare (every tier over Ray, the service layers like for like): "
              f"p50 x{ratios['platform_2hop_p50_over_bare']:.2f}, throughput x{ratios['platform_2hop_rps_over_bare']:.2f}; "
              f"rounds: p50 {rounds['platform_2hop_p50_over_bare']}, throughput {rounds['platform_2hop_rps_over_bare']}")
    if "platform-grpc" in results:
        print(f"platform-grpc/platform (the same gateway, gRPC instead of HTTP): "
              f"p50 x{ratios['platform_grpc_p50_over_platform']:.2f}, "
              f"throughput x{ratios['platform_grpc_rps_over_platform']:.2f}; /plain: "
              f"p50 x{ratios['platform_grpc_p50_over_plain']:.2f}, throughput x{ratios['platform_grpc_rps_over_plain']:.2f}; "
              f"rounds: p50 {rounds['platform_grpc_p50_over_platform']}, "
              f"throughput {rounds['platform_grpc_rps_over_platform']}")
    out = ROOT / "results" / "bench_serving.json"
    out.parent.mkdir(exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps({"summary": summary, "ratios": ratios, "raw": results, "args": vars(args), "round_ratios": rounds,
                               "bare_replicas": replicas, "platform_tiers": list(topology.tier_names)}, indent=2))
    tmp.replace(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
