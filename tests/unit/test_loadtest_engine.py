"""The open-loop pacer and the closed loop, in virtual time with a fake transport (no sockets)."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from maas.clock import ManualClock
from maas.loadtest import histograms as H
from maas.loadtest.engine import Counters, run_closed_loop, run_open_loop
from maas.loadtest.mix import PreparedEntry
from maas.loadtest.recorder import Outcome, Recorder
from maas.loadtest.schedule import ArrivalSpec, build_schedule


class YieldingClock(ManualClock):
    """Virtual time whose sleep also lets other tasks run (like a real sleep would)."""

    async def sleep_s(self, seconds: float) -> None:
        await asyncio.sleep(0)  # tasks ready now run at the current instant
        await super().sleep_s(seconds)
        await asyncio.sleep(0)


class FakeTransport:
    """Answers at once; on the calls listed in ``stall_on`` the generator's clock jumps by ``stall_s``."""

    def __init__(
        self, clock: ManualClock, stall_on: tuple[int, ...] = (), stall_s: float = 1.0, status: int = 200
    ) -> None:
        self.clock, self.stall_on, self.stall_s, self.status = clock, stall_on, stall_s, status
        self.calls: list[tuple[str, bytes, float]] = []

    async def send(self, entry: PreparedEntry, body: bytes) -> Outcome:
        if len(self.calls) in self.stall_on:
            self.clock.advance(self.stall_s)
        self.calls.append((entry.model, body, self.clock.now_s()))
        return Outcome(self.status, {"tier": "edge"})


ENTRIES = [
    PreparedEntry(0, "a", "t", 50.0, "/v2/models/a/infer", {}, [b"a0", b"a1"]),
    PreparedEntry(1, "b", "t", None, "/v2/models/b/infer", {}, [b"b0", b"b1"]),
]


def _schedule(rate=100.0, duration=2.0, kind="constant"):
    return build_schedule(ArrivalSpec(kind=kind, rate_rps=rate, duration_s=duration), [1.0, 1.0], [2, 2], seed=5)


def test_open_loop_sends_every_request_on_time():
    clock = YieldingClock(1000.0)
    sched = _schedule(kind="poisson", rate=200)
    transport, rec = FakeTransport(clock), Recorder()
    counters = asyncio.run(run_open_loop(sched, ENTRIES, transport, rec, clock, start_s=1000.5))
    assert counters.sent == counters.done == len(sched) == rec.requests
    sent_at = np.asarray([t for _, _, t in transport.calls]) - 1000.5
    assert np.allclose(sent_at, sched.offsets_s)
    assert rec.lateness.get_max_value() == 0
    bodies = [b for _, b, _ in transport.calls]
    expected = [ENTRIES[e].bodies[v] for e, v in zip(sched.entry, sched.variant, strict=True)]
    assert bodies == expected


def test_generator_hiccup_shows_as_lateness_and_in_latency():
    clock = YieldingClock(0.0)
    sched = _schedule(rate=100, duration=3)
    rec = Recorder()
    asyncio.run(run_open_loop(sched, ENTRIES, FakeTransport(clock, stall_on=(50,), stall_s=1.0), rec, clock, 0.0))
    assert rec.requests == 300
    late = H.summarize_ms(rec.lateness)
    assert late["max"] == pytest.approx(1000, rel=0.01)  # the request due right after the stall began
    lat = H.summarize_ms(rec.latency)
    assert lat["p99"] >= late["p99"] and lat["p90"] > 500
    assert H.summarize_ms(rec.service)["p90"] == 0.0  # the server side was instant for those requests


def test_closed_loop_hides_the_same_stall():
    clock = YieldingClock(0.0)
    sched = _schedule(rate=100, duration=3)
    rec = Recorder()
    asyncio.run(
        run_closed_loop(
            sched,
            ENTRIES,
            FakeTransport(clock, stall_on=(50,), stall_s=1.0),
            rec,
            clock,
            start_s=0.0,
            concurrency=1,
            duration_s=3.0,
            rate_rps=100.0,
        )
    )
    lat = H.summarize_ms(rec.latency)
    assert lat["max"] == pytest.approx(1000, rel=0.01)
    assert lat["p99"] == 0.0  # only one sample saw the stall: coordinated omission
    assert rec.requests == 300  # a rate-mode tool catches up after the stall


def test_stop_event_ends_dispatch():
    clock = YieldingClock(0.0)
    sched = _schedule(rate=100, duration=5)

    async def go() -> Counters:
        stop = asyncio.Event()
        counters = Counters()

        class Stopper(FakeTransport):
            async def send(self, entry, body):
                if len(self.calls) == 20:
                    stop.set()
                return await super().send(entry, body)

        return await run_open_loop(sched, ENTRIES, Stopper(clock), Recorder(), clock, 0.0, stop, counters)

    counters = asyncio.run(go())
    assert 20 <= counters.sent <= 22 < len(sched)


def test_errors_are_results():
    clock = YieldingClock(0.0)
    rec = Recorder()
    asyncio.run(
        run_open_loop(_schedule(rate=50, duration=1), ENTRIES, FakeTransport(clock, status=503), rec, clock, 0.0)
    )
    assert rec.requests == rec.errors == 50
    assert rec.latency.get_total_count() == 50
    assert rec.slo_n == 25 or 0 < rec.slo_n < 50
    assert rec.slo_met == 0
