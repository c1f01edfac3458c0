"""The sim-to-real trace as the load-test harness replays it, and the live side of the check.

``trace_rows`` turns a prepared scenario's trace into rows (``t_s`` plus the request's hints, the rows of a
``maas loadtest --trace`` file); ``replay`` sends them open-loop through ``maas.loadtest``'s engine and keeps one
``RequestOutcome`` per request. Plain HTTP: no Ray, nothing of the server side.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from maas.errors import InvalidInput
from maas.loadtest.engine import MonotonicClock, run_open_loop
from maas.loadtest.mix import MixEntry, PreparedEntry, RequestMix, prepare_mix
from maas.loadtest.recorder import BREAKDOWN_KEYS, Outcome, Recorder
from maas.loadtest.schedule import Schedule
from maas.loadtest.transport import AiohttpTransport, probe_server
from maas.sim.runner import Prepared

__all__ = [
    "RequestOutcome", "LiveRun", "trace_rows", "trace_sha256", "write_trace_jsonl", "replay_schedule", "replay",
]


# -- the trace as the harness replays it ---------------------------------------------------------------------
def trace_rows(prep: Prepared) -> list[dict[str, Any]]:
    """One JSON-able row per request of the scenario's trace: ``t_s`` plus ``MixEntry`` fields (model, tenant,
    site, and the tenant's deadline_ms, objective and strict), in trace order (the rows of a trace file)."""
    inp, tr = prep.inp, prep.inp.trace
    rows = []
    for i in range(len(tr)):
        j = int(tr.tenant[i])
        row: dict[str, Any] = {"t_s": float(tr.t_s[i]), "model": inp.models[int(tr.model[i])],
                               "tenant": inp.tenant_names[j], "site": inp.sites[int(tr.site[i])],
                               "objective": inp.tenant_objective[j], "strict": bool(inp.tenant_strict[j])}
        if inp.tenant_deadline_ms[j] is not None:
            row["deadline_ms"] = float(inp.tenant_deadline_ms[j])
        rows.append(row)
    return rows


def trace_sha256(rows: list[dict[str, Any]]) -> str:
    """A fingerprint of a trace (what both sides ran)."""
    return hashlib.sha256(json.dumps(rows, sort_keys=True).encode()).hexdigest()


def write_trace_jsonl(rows: list[dict[str, Any]], path: str | Path) -> None:
    """Write rows as a ``maas loadtest --trace`` file (atomically: a temp file, then ``os.replace``)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=".trace-", suffix=".jsonl", dir=str(path.parent))
    try:
        with os.fdopen(fd, "w") as fh:
            for row in rows:
                fh.write(json.dumps(row, separators=(",", ":")) + "\n")
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _entry(row: dict[str, Any], n: int) -> MixEntry:
    try:
        return MixEntry.model_validate({k: v for k, v in row.items() if k != "t_s"})
    except ValidationError as exc:
        err = exc.errors()[0]
        raise InvalidInput(f"trace row {n}: {'.'.join(map(str, err['loc']))}: {err['msg']}") from None


def replay_schedule(rows: list[dict[str, Any]], variants: int = 4, seed: int = 0
                    ) -> tuple[Schedule, RequestMix, list[int]]:
    """The open-loop schedule of ``rows`` (request i is schedule entry i, due at ``rows[i]["t_s"]``), the mix of
    distinct request kinds, and each request's kind. Rows must be sorted by ``t_s``."""
    if not rows:
        raise InvalidInput("the trace has no requests")
    offsets = np.array([r.get("t_s") if isinstance(r.get("t_s"), (int, float)) else np.nan for r in rows], float)
    if not (offsets >= 0).all() or (np.diff(offsets) < 0).any():
        raise InvalidInput("every trace row needs a t_s >= 0, in sorted order")
    kinds: dict[str, int] = {}
    entries: list[MixEntry] = []
    kind_of = []
    for n, row in enumerate(rows):
        entry = _entry(row, n)
        key = entry.model_dump_json()
        if key not in kinds:
            kinds[key] = len(entries)
            entries.append(entry)
        kind_of.append(kinds[key])
    variant = np.random.default_rng(seed).integers(0, variants, len(rows)).astype(np.int32)
    duration_s = float(offsets[-1]) + 1e-3
    schedule = Schedule(offsets, np.arange(len(rows), dtype=np.int32), variant, duration_s, len(rows) / duration_s)
    return schedule, RequestMix(entries=entries), kind_of


# -- the live side ----------------------------------------------------------------------------------------------
@dataclass
class RequestOutcome:
    """One live request: HTTP status, the tier and parts the platform reported, client latency from the intended
    send time (``lateness_ms`` = actual - intended send)."""

    index: int
    status: int
    latency_ms: float
    lateness_ms: float
    deadline_ms: float | None
    tier: str | None = None
    deadline_met: bool | None = None
    policy: str | None = None
    parts_ms: dict[str, float] | None = None
    error: str | None = None
    decision: dict[str, Any] | None = None  # the gateway's routing decision, when the row asked (``explain``)
    host_ms: float | None = None  # the real onnxruntime time on the host (what the live router learns from)
    batch_size: int | None = None  # batched: the requests in its batch, and the batch's host time (else None)
    batch_host_ms: float | None = None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


@dataclass
class LiveRun:
    """A replay: its start (epoch seconds: request i was due at ``start_s + t_s[i]``) and every outcome by index."""

    start_s: float
    outcomes: list[RequestOutcome]
    metadata: dict[str, dict[str, Any]] = field(default_factory=dict)
    body_bytes: dict[str, float] = field(default_factory=dict)  # mean request body per model, as sent


def _decision(value: Any) -> dict[str, Any] | None:
    """The ``decision`` response parameter (a JSON string), parsed; None when absent or not a JSON object."""
    if not isinstance(value, str):
        return None
    try:
        doc = json.loads(value)
    except ValueError:
        return None
    return doc if isinstance(doc, dict) else None


class _Collector:
    """A ``Transport`` around another: keeps each request's outcome by its entry index (= request index)."""

    def __init__(self, inner: Any, offsets_s: list[float], deadlines: list[float | None], clock: Any) -> None:
        self.inner, self.offsets_s, self.deadlines, self.clock = inner, offsets_s, deadlines, clock
        self.start_s = 0.0
        self.outcomes: dict[int, RequestOutcome] = {}

    async def send(self, entry: PreparedEntry, body: bytes) -> Outcome:
        sent = self.clock.now_s()
        out: Outcome = await self.inner.send(entry, body)
        done = self.clock.now_s()
        i = entry.index
        intended = self.start_s + self.offsets_s[i]
        p = out.params
        parts = {k: float(p[k]) for k in BREAKDOWN_KEYS if isinstance(p.get(k), (int, float))}
        met = p.get("deadline_met")
        self.outcomes[i] = RequestOutcome(
            i, out.status, (done - intended) * 1e3, (sent - intended) * 1e3, self.deadlines[i],
            p.get("tier") if isinstance(p.get("tier"), str) else None, met if isinstance(met, bool) else None,
            p.get("policy") if isinstance(p.get("policy"), str) else None,
            parts if len(parts) == len(BREAKDOWN_KEYS) else None, out.error, _decision(p.get("decision")),
            float(p["host_ms"]) if isinstance(p.get("host_ms"), (int, float)) else None,
            p["batch_size"] if isinstance(p.get("batch_size"), int) and not isinstance(p["batch_size"], bool) else None,
            float(p["batch_host_ms"]) if isinstance(p.get("batch_host_ms"), (int, float)) else None)
        return out


async def _replay(url: str, schedule: Schedule, entries: list[PreparedEntry], deadlines: list[float | None],
                  timeout_s: float, lead_s: float, headers: dict[str, str] | None = None) -> LiveRun:
    clock = MonotonicClock()
    inner = AiohttpTransport(url, timeout_s=timeout_s, headers=headers)
    collector = _Collector(inner, schedule.offsets_s.tolist(), deadlines, clock)
    await inner.open()
    try:
        collector.start_s = start_s = clock.now_s() + lead_s
        await run_open_loop(schedule, entries, collector, Recorder(), clock, start_s, pacer="thread",
                            drain_s=timeout_s + 2.0)
    finally:
        await inner.close()
    outcomes = [collector.outcomes.get(i) or RequestOutcome(i, -1, timeout_s * 1e3, 0.0, deadlines[i],
                                                            error="abandoned")
                for i in range(len(schedule))]
    return LiveRun(start_s, outcomes)


def replay(url: str, rows: list[dict[str, Any]], *, seed: int = 0, variants: int = 4, timeout_s: float = 10.0,
           lead_s: float = 0.5, headers: dict[str, str] | None = None) -> LiveRun:
    """Send every row open-loop at its ``t_s`` after the start (real payloads of each model, the row's hints as
    V2 ``parameters``); returns each request's outcome. Raises ``ModelNotFound``/``ServerUnreachable`` first."""
    schedule, mix, kind_of = replay_schedule(rows, variants, seed)
    metadata = probe_server(url, mix.models, headers=headers)
    kinds = prepare_mix(mix, seed + 1, variants, metadata=lambda m: metadata.get(m, {}))
    entries = [dataclasses.replace(kinds[k], index=i) for i, k in enumerate(kind_of)]
    deadlines = [r.get("deadline_ms") for r in rows]
    live = asyncio.run(_replay(url, schedule, entries, deadlines, timeout_s, lead_s, headers))
    live.metadata = metadata
    sizes: dict[str, list[int]] = {}
    for i, k in enumerate(kind_of):  # the body the open-loop engine sends for request i (entry i, its variant)
        bodies = kinds[k].bodies
        sizes.setdefault(kinds[k].model, []).append(len(bodies[int(schedule.variant[i]) % len(bodies)]))
    live.body_bytes = {m: float(np.mean(v)) for m, v in sizes.items()}
    return live
