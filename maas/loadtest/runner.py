"""Running a load test across generator processes and collecting their histograms.

Lifecycle of ``execute``:
1. Start ``workers`` processes (``forkserver``); each takes the interleaved slice ``worker::workers`` of the schedule
   (open loop) or its share of the concurrency (closed loop), opens its aiohttp session on uvloop, and says ready.
2. The parent picks a common start time a moment ahead and sends it; every worker paces against it.
3. While running, workers send live counters twice a second; the parent passes them to ``on_progress``.
4. Each worker sends back its ``Recorder`` payload (encoded HDR histograms); the parent merges them.
5. Ctrl-C in the parent (workers ignore SIGINT) sets a shared stop event: workers stop dispatching, wait up to
   2 s for replies, and return what they have; the run is marked partial. A second Ctrl-C terminates them.
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from maas.errors import MaasError
from maas.loadtest.engine import Counters, MonotonicClock, run_closed_loop, run_open_loop
from maas.loadtest.mix import PreparedEntry
from maas.loadtest.recorder import Recorder, merge_payloads
from maas.loadtest.schedule import Schedule
from maas.loadtest.transport import AiohttpTransport

__all__ = ["RunConfig", "Progress", "RunData", "HarnessError", "execute"]


class HarnessError(MaasError):
    """The load generator itself failed (a worker died or never became ready)."""


class RunConfig(BaseModel):
    """How to drive the server (the schedule and the mix are passed separately)."""

    model_config = ConfigDict(extra="forbid")

    url: str
    mode: Literal["open", "closed"] = "open"
    concurrency: int = Field(1, ge=1, description="closed loop: number of senders")
    closed_rate_rps: float | None = Field(None, gt=0, description="closed loop: optional pacing rate")
    duration_s: float = Field(30.0, gt=0)
    workers: int = Field(1, ge=1, le=64, description="generator processes")
    warmup_s: float = Field(0.0, ge=0)
    timeout_s: float = Field(10.0, gt=0)
    spin_s: float = Field(0.0, ge=0, description="loop pacer: yield instead of sleeping this close to a due time")
    pacer: Literal["thread", "loop"] = Field("thread", description="open loop: pacing thread or event-loop sleeps")
    max_connections: int = Field(0, ge=0, description="per worker; 0 = unlimited")
    headers: dict[str, str] = Field(default_factory=dict)
    window_s: float = Field(1.0, gt=0)


@dataclass
class Progress:
    """Live totals across workers."""

    elapsed_s: float
    sent: int
    done: int
    errors: int
    scheduled: int
    total: int
    stopping: bool = False

    @property
    def in_flight(self) -> int:
        return self.sent - self.done


@dataclass
class RunData:
    """What a run produced: merged recorder data and how it went."""

    merged: dict[str, Any]
    partial: bool
    wall_s: float
    sent: int
    abandoned: int
    workers: int
    notes: list[str] = field(default_factory=list)


def _counters(c: Counters) -> dict[str, int]:
    return {"sent": c.sent, "done": c.done, "errors": c.errors, "abandoned": c.abandoned}


async def _worker_async(
    index: int, cfg: RunConfig, schedule: Schedule, entries: list[PreparedEntry], conn: Connection, stop_flag: Any
) -> None:
    transport = AiohttpTransport(cfg.url, cfg.timeout_s, cfg.max_connections, cfg.headers)
    await transport.open()
    clock = MonotonicClock()
    recorder = Recorder(cfg.warmup_s, cfg.window_s)
    counters = Counters()
    stop = asyncio.Event()
    conn.send(("ready", index))
    loop = asyncio.get_running_loop()
    msg = await loop.run_in_executor(None, conn.recv)
    if msg[0] != "start":
        await transport.close()
        return
    start_s = float(msg[1])

    async def watch() -> None:
        while True:
            if stop_flag.is_set():
                stop.set()
            conn.send(("progress", index, _counters(counters)))
            await asyncio.sleep(0.5)

    watcher = loop.create_task(watch())
    try:
        if cfg.mode == "open":
            await run_open_loop(
                schedule,
                entries,
                transport,
                recorder,
                clock,
                start_s,
                stop,
                counters,
                cfg.spin_s,
                drain_s=cfg.timeout_s + 1.0,
                pacer=cfg.pacer,
            )
        else:
            share = cfg.concurrency // cfg.workers + (index < cfg.concurrency % cfg.workers)
            rate = cfg.closed_rate_rps * share / cfg.concurrency if cfg.closed_rate_rps else None
            if share:
                await run_closed_loop(
                    schedule, entries, transport, recorder, clock, start_s, share, cfg.duration_s, rate, stop, counters
                )
    finally:
        watcher.cancel()
        await transport.close()
    conn.send(("result", index, recorder.to_payload(), _counters(counters)))


def _worker_main(
    index: int, cfg: RunConfig, schedule: Schedule, entries: list[PreparedEntry], conn: Connection, stop_flag: Any
) -> None:
    """Entry point of a generator process."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sys.setswitchinterval(0.001)  # the pacing thread gets the GIL back sooner than the 5 ms default
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover - uvloop is a dependency; plain asyncio still works
        pass
    try:
        asyncio.run(_worker_async(index, cfg, schedule, entries, conn, stop_flag))
    except Exception as exc:  # reported to the parent, which turns it into a HarnessError
        conn.send(("error", index, f"{type(exc).__name__}: {exc}"))
    finally:
        conn.close()


def execute(
    cfg: RunConfig,
    schedule: Schedule,
    entries: list[PreparedEntry],
    on_progress: Callable[[Progress], None] | None = None,
    clock: MonotonicClock | None = None,
    ready_timeout_s: float = 120.0,
) -> RunData:
    """Run the test in ``cfg.workers`` processes and return the merged data (see the module docstring)."""
    clock = clock or MonotonicClock()
    ctx = mp.get_context("forkserver")  # fast starts after the first, no inherited threads
    ctx.set_forkserver_preload(["maas.loadtest.runner"])
    stop_flag = ctx.Event()
    procs, conns = [], []
    for k in range(cfg.workers):
        parent, child = ctx.Pipe()
        part = schedule.slice(k, cfg.workers) if cfg.mode == "open" else schedule
        p = ctx.Process(
            target=_worker_main, args=(k, cfg, part, entries, child, stop_flag), daemon=True, name=f"maas-loadtest-{k}"
        )
        p.start()
        child.close()
        procs.append(p)
        conns.append(parent)
    results: dict[int, tuple[dict[str, Any], dict[str, int]]] = {}
    live: dict[int, dict[str, int]] = {}
    partial = False
    interrupts = 0
    notes: list[str] = []
    try:
        ready: set[int] = set()
        deadline = time.monotonic() + ready_timeout_s
        while len(ready) < cfg.workers:
            if time.monotonic() > deadline:
                raise HarnessError("generator processes did not become ready")
            for c in wait(conns, timeout=0.5):
                msg = _recv(c)
                if msg[0] == "ready":
                    ready.add(msg[1])
                elif msg[0] == "error":
                    raise HarnessError(f"generator process {msg[1]} failed: {msg[2]}")
        start_s = clock.now_s() + 0.3
        for c in conns:
            c.send(("start", start_s))
        open_conns = list(conns)
        offsets = schedule.offsets_s
        while open_conns:
            try:
                for c in wait(open_conns, timeout=0.25):
                    msg = _recv(c)
                    if msg[0] == "progress":
                        live[msg[1]] = msg[2]
                    elif msg[0] == "result":
                        results[msg[1]] = (msg[2], msg[3])
                        open_conns.remove(c)
                    elif msg[0] == "error":
                        raise HarnessError(f"generator process {msg[1]} failed: {msg[2]}")
                if on_progress is not None:
                    elapsed = clock.now_s() - start_s
                    total = len(offsets) if cfg.mode == "open" else 0
                    due = int(offsets.searchsorted(elapsed, side="right")) if cfg.mode == "open" else 0
                    agg = {k: sum(v[k] for v in live.values()) for k in ("sent", "done", "errors")}
                    on_progress(
                        Progress(elapsed, agg["sent"], agg["done"], agg["errors"], due, total, stop_flag.is_set())
                    )
            except KeyboardInterrupt:
                interrupts += 1
                partial = True
                stop_flag.set()
                if interrupts >= 2:
                    notes.append("interrupted twice: generator processes terminated, their data lost")
                    break
    finally:
        stop_flag.set()
        for c in conns:
            try:
                c.send(("stop",))
            except (OSError, BrokenPipeError):
                pass
        for p in procs:
            p.join(timeout=5.0)
            if p.is_alive():
                p.terminate()
                p.join(timeout=2.0)
    if not results:
        raise HarnessError("no generator process returned results")
    if len(results) < cfg.workers:
        partial = True
    merged = merge_payloads([r[0] for r in results.values()])
    sent = sum(r[1]["sent"] for r in results.values())
    abandoned = sum(r[1]["abandoned"] for r in results.values())
    return RunData(merged, partial, clock.now_s() - start_s, sent, abandoned, cfg.workers, notes)


def _recv(c: Connection) -> tuple[Any, ...]:
    try:
        return c.recv()
    except EOFError:
        raise HarnessError("a generator process exited unexpectedly") from None
