"""A small local V2 inference server for self-tests, integration tests and the harness benchmark.

It serves the three reference models' metadata, answers ``infer`` after ``delay_ms`` (or, with ``trivial``, at
once with a canned body), can stall once (every
request that arrives during a ``stall_s`` pause, starting ``stall_at_s`` after the first request, waits until
the pause ends, like a garbage-collection or failover pause) and can add platform-like response
``parameters`` (tier, latency parts, energy). ``StubServer`` runs it in ``processes`` child processes sharing
one port (SO_REUSEPORT) and waits for readiness by polling.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing as mp
import os
import signal
import socket
import time
import urllib.request
from dataclasses import dataclass
from typing import Any

from aiohttp import web

__all__ = ["StubSettings", "create_stub_app", "StubServer", "free_port"]

_METADATA = {
    "minilm-embed": ("text", "BYTES", [-1], "embedding", "FP32", [-1, 384]),
    "digits-mlp": ("pixels", "FP32", [-1, 64], "probabilities", "FP32", [-1, 10]),
    "maintenance-clf": ("features", "FP32", [-1, 6], "failure_probability", "FP32", [-1, 1]),
}
_TIERS = ("bs-edge", "olt-edge", "leo-sat")


@dataclass(frozen=True)
class StubSettings:
    """Behaviour of the stub server."""

    delay_ms: float = 0.0
    stall_at_s: float | None = None
    stall_s: float = 1.0
    platform_like: bool = False
    models: tuple[str, ...] = tuple(_METADATA)
    trivial: bool = False  # answer every infer with one canned body without parsing it (benchmarks)


class _State:
    def __init__(self) -> None:
        self.first_s: float | None = None
        self.stall_end_s: float | None = None
        self.count = 0


def create_stub_app(settings: StubSettings) -> web.Application:
    """The aiohttp application (no globals: state lives on the app)."""
    state = _State()
    clock = time.monotonic

    async def ready(_: web.Request) -> web.Response:
        return web.json_response({"ready": True, "pid": os.getpid()})

    def _meta(name: str) -> dict[str, Any]:
        i_name, i_type, i_shape, o_name, o_type, o_shape = _METADATA[name]
        return {
            "name": name,
            "versions": ["1"],
            "platform": "onnxruntime_onnx",
            "inputs": [{"name": i_name, "datatype": i_type, "shape": i_shape}],
            "outputs": [{"name": o_name, "datatype": o_type, "shape": o_shape}],
        }

    async def metadata(request: web.Request) -> web.Response:
        name = request.match_info["model"]
        if name not in settings.models or name not in _METADATA:
            return web.json_response({"error": f"model {name!r} not found"}, status=404)
        return web.json_response(_meta(name))

    canned = {
        m: json.dumps(
            {
                "model_name": m,
                "outputs": [{"name": v[3], "datatype": v[4], "shape": [1, v[5][1]], "data": [0.0] * v[5][1]}],
            }
        ).encode()
        for m, v in _METADATA.items()
    }

    async def infer(request: web.Request) -> web.Response:
        now = clock()
        name = request.match_info["model"]
        if name not in settings.models or name not in _METADATA:
            return web.json_response({"error": f"model {name!r} not found"}, status=404)
        if settings.trivial:
            await request.read()
            return web.Response(body=canned[name], content_type="application/json")
        try:
            doc = json.loads(await request.read())
            rows = int(doc["inputs"][0]["shape"][0])
        except (ValueError, KeyError, IndexError, TypeError):
            return web.json_response({"error": "bad V2 request"}, status=400)
        if state.first_s is None:
            state.first_s = now
        if settings.stall_at_s is not None and state.stall_end_s is None and now - state.first_s >= settings.stall_at_s:
            state.stall_end_s = now + settings.stall_s
        if state.stall_end_s is not None and now < state.stall_end_s:
            await asyncio.sleep(state.stall_end_s - now)
        if settings.delay_ms > 0:
            await asyncio.sleep(settings.delay_ms / 1000.0)
        state.count += 1
        o_name, o_type, o_shape = _METADATA[name][3:]
        width = o_shape[1]
        body: dict[str, Any] = {
            "model_name": name,
            "id": doc.get("id", ""),
            "outputs": [{"name": o_name, "datatype": o_type, "shape": [rows, width], "data": [0.0] * (rows * width)}],
        }
        if settings.platform_like:
            tier = _TIERS[state.count % len(_TIERS)]
            k = _TIERS.index(tier)
            parts = {
                "uplink_ms": 2.0 + 10 * k,
                "queue_ms": 0.5,
                "compute_ms": 3.0 - k,
                "downlink_ms": 2.0 + 10 * k,
                "platform_ms": 0.3,
            }
            latency = sum(parts.values())
            deadline = (doc.get("parameters") or {}).get("deadline_ms")
            body["parameters"] = {
                "tier": tier,
                "site": "stub",
                "policy": "stub",
                "latency_ms": latency,
                **parts,
                "energy_j": 0.5 * (k + 1),
                "carbon_g": 0.01 * (k + 1),
                "deadline_met": deadline is None or latency <= float(deadline),
            }
        return web.json_response(body)

    app = web.Application()
    app.router.add_get("/v2/health/ready", ready)
    app.router.add_get("/v2/models/{model}", metadata)
    app.router.add_post("/v2/models/{model}/infer", infer)
    return app


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(port: int, settings: StubSettings, reuse_port: bool) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover
        pass
    web.run_app(
        create_stub_app(settings),
        host="127.0.0.1",
        port=port,
        reuse_port=reuse_port,
        print=None,
        access_log=None,
        handle_signals=True,
        backlog=4096,
    )


class StubServer:
    """The stub in ``processes`` child processes on one port; a context manager.

    Lifecycle: 1. ``start()`` (or ``with``) picks a free port, starts the children and polls readiness;
    2. use ``url``; 3. ``stop()`` terminates exactly the children it started."""

    def __init__(self, settings: StubSettings | None = None, processes: int = 1, port: int | None = None) -> None:
        self.settings = settings or StubSettings()
        self.processes = processes
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._procs: list[Any] = []

    def start(self, ready_timeout_s: float = 60.0) -> StubServer:
        ctx = mp.get_context("forkserver")  # fast starts after the first, no inherited threads
        ctx.set_forkserver_preload(["maas.loadtest.stubserver"])
        for _ in range(self.processes):
            p = ctx.Process(target=_serve, args=(self.port, self.settings, self.processes > 1), daemon=True)
            p.start()
            self._procs.append(p)
        deadline = time.monotonic() + ready_timeout_s
        pids: set[int] = set()
        while len(pids) < self.processes:  # fresh connections land on every child once all have bound
            try:
                with urllib.request.urlopen(self.url + "/v2/health/ready", timeout=1.0) as resp:
                    pids.add(int(json.loads(resp.read())["pid"]))
            except OSError:
                time.sleep(0.05)  # polling interval while the children start
            if time.monotonic() > deadline or not all(p.is_alive() for p in self._procs):
                self.stop()
                raise RuntimeError(f"stub server on port {self.port} did not become ready")
        return self

    def stop(self) -> None:
        for p in self._procs:
            if p.is_alive():
                p.terminate()
        for p in self._procs:
            p.join(timeout=5.0)
        self._procs.clear()

    def __enter__(self) -> StubServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
