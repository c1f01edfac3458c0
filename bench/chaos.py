"""Faults injected under an open loop, and what was lost (issue 17), shared by tests/integration/test_chaos.py and
bench/bench_chaos.py.

``run_under_fault(url, headers, inject, rate_rps, duration_s, fault_at_s)`` sends a constant-rate open loop of V2
requests (digits-mlp with a deadline hint; each request timed from its intended send time), calls ``inject()`` at
``fault_at_s`` (in a thread, so the loop keeps its pace) and returns a ``ChaosResult``:
- ``lost``: neither a 200 nor a fast refusal (503/429 within ``fast_s``): errors, 500s, timeouts, slow refusals;
- ``refused``: fast 503/429;
- ``recovery_s``: from the fault to the intended send of the last request after it that was not a 200 within
  ``slow_ms`` (0 when every request after the fault was), i.e. how long clients noticed the fault.
The kill helpers find processes through Ray's state API (only the tests and benches here call Ray directly).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ChaosResult", "run_under_fault", "kill_replica", "BODY"]

BODY = {"inputs": [{"name": "pixels", "datatype": "FP32", "shape": [1, 64], "data": [0.0] * 64}],
        "parameters": {"deadline_ms": 250}}


@dataclass
class ChaosResult:
    fault: str
    sent: int = 0
    ok: int = 0
    refused: int = 0
    lost: int = 0
    recovery_s: float = 0.0
    statuses: Counter = field(default_factory=Counter)
    tiers_after: Counter = field(default_factory=Counter)
    retried: int = 0
    lost_samples: list[str] = field(default_factory=list)
    detail: str = ""

    def row(self) -> dict[str, Any]:
        return {"fault": self.fault, "sent": self.sent, "ok": self.ok, "lost": self.lost, "refused": self.refused,
                "recovery_s": round(self.recovery_s, 2), "retried": self.retried,
                "statuses": dict(self.statuses), "tiers_after_fault": dict(self.tiers_after), "detail": self.detail,
                "lost_samples": self.lost_samples[:5]}


async def _loop(url: str, headers: dict[str, str], rate_rps: float, duration_s: float, fault_at_s: float,
                inject: Callable[[], str | None], timeout_s: float) -> tuple[list[tuple], float, str]:
    import aiohttp

    n = int(rate_rps * duration_s)
    out: list[tuple] = []
    fault: dict[str, Any] = {"t": None, "detail": ""}
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        start = time.monotonic() + 0.2

        async def one(intended: float) -> None:
            status, tier, retried, err = 0, None, False, ""
            try:
                async with session.post(f"{url}/v2/models/digits-mlp/infer", json=BODY, headers=headers) as r:
                    status = r.status
                    raw = await r.read()
                    try:
                        doc = json.loads(raw)
                    except ValueError:  # e.g. HAProxy's own 502/503 page while the gateway replica is down
                        doc = {"error": f"not JSON: {raw[:120]!r}"}
                        status = status if status != 200 else 0
                    if status == 200:
                        tier = doc["parameters"]["tier"]
                        retried = bool(doc["parameters"].get("retried_from"))
                    else:
                        err = str(doc.get("error"))[:160]
            except asyncio.TimeoutError:
                status, err = -1, "timeout"
            except aiohttp.ClientError as exc:
                status, err = 0, f"{type(exc).__name__}: {exc}"[:160]
            out.append((intended - start, time.monotonic() - intended, status, tier, retried, err))

        def fire() -> None:
            fault["detail"] = inject() or ""

        tasks = []
        for k in range(n):
            intended = start + k / rate_rps
            if fault["t"] is None and intended - start >= fault_at_s:
                fault["t"] = intended - start
                threading.Thread(target=fire, daemon=True).start()
            delay = intended - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.ensure_future(one(intended)))
        await asyncio.gather(*tasks)
    return out, fault["t"], fault["detail"]


def run_under_fault(name: str, url: str, headers: dict[str, str], inject: Callable[[], str | None], *,
                    rate_rps: float = 50.0, duration_s: float = 20.0, fault_at_s: float = 5.0,
                    timeout_s: float = 10.0, fast_s: float = 1.0, slow_ms: float = 1000.0) -> ChaosResult:
    """See the module docstring."""
    rows, t_fault, detail = asyncio.run(_loop(url, headers, rate_rps, duration_s, fault_at_s, inject, timeout_s))
    res = ChaosResult(name, sent=len(rows), detail=detail)
    last_bad = None
    for t, latency_s, status, tier, retried, err in sorted(rows):
        res.statuses[str(status)] += 1
        if status == 200:
            res.ok += 1
            res.retried += retried
        elif status in (503, 429) and latency_s <= fast_s:
            res.refused += 1
        else:
            res.lost += 1
            res.lost_samples.append(f"t={t:.2f}s status={status} {latency_s * 1e3:.0f} ms {err}")
        if t >= t_fault:
            if tier is not None:
                res.tiers_after[tier] += 1
            if status != 200 or latency_s * 1e3 > slow_ms:
                last_bad = t
    res.recovery_s = 0.0 if last_bad is None else last_bad - t_fault
    return res


def replica_pids(app_name: str) -> list[int]:
    """Live Serve replica processes of application ``app_name`` that this process's Ray started: Ray titles a
    replica's process ``ray::ServeReplica:<app>:<deployment>``, and only our own descendants are looked at (another
    Ray on the host may run the same application). No dashboard or state API needed."""
    from maas.serving.ray_processes import list_processes

    procs = list_processes()
    children: dict[int, list[int]] = {}
    for p in procs:
        children.setdefault(p.ppid, []).append(p.pid)
    mine, todo = set(), [os.getpid()]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in mine:
                mine.add(child)
                todo.append(child)
    tag = f"ServeReplica:{app_name}:"
    return [p.pid for p in procs if p.pid in mine and tag in " ".join(p.argv)]


def kill_replica(app_name: str) -> str:
    """kill -9 of one live replica of Serve application ``app_name`` (e.g. ``digits-mlp:1@ground``, ``gateway``)."""
    pids = replica_pids(app_name)
    if not pids:
        raise RuntimeError(f"no live replica of {app_name!r} among this process's Ray workers")
    os.kill(pids[0], signal.SIGKILL)
    return f"kill -9 {pids[0]} (ServeReplica:{app_name})"
