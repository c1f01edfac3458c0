"""SimPy-only models used by the tests: a tier queue to check the queueing formulas against, and ``SimClock``,
the ``maas.clock.Clock`` protocol on top of a SimPy ``Environment`` (virtual time)."""

from __future__ import annotations

from collections.abc import Callable, Generator

import numpy as np
import simpy

__all__ = ["SimPyTierQueue", "simulate_mean_wait_s", "SimClock"]


class SimPyTierQueue:
    """A tier with ``slots`` concurrent compute slots; requests wait FIFO for a slot, then hold it."""

    def __init__(self, env: simpy.Environment, slots: int) -> None:
        self.env = env
        self.slots = slots
        self.resource = simpy.Resource(env, capacity=slots)
        self.waits_s: list[float] = []

    @property
    def in_flight(self) -> int:
        return self.resource.count

    @property
    def queued(self) -> int:
        return len(self.resource.queue)

    def serve(self, service_s: float) -> Generator[simpy.events.Event, None, None]:
        """SimPy process: wait for a slot, record the wait, hold the slot for ``service_s``."""
        arrived = self.env.now
        with self.resource.request() as req:
            yield req
            self.waits_s.append(self.env.now - arrived)
            yield self.env.timeout(service_s)


def simulate_mean_wait_s(
    slots: int,
    arrival_rate: float,
    service: Callable[[np.random.Generator], float],
    n_requests: int,
    seed: int = 0,
    warmup: int = 1000,
) -> float:
    """Poisson arrivals into a ``SimPyTierQueue``; mean wait of requests after the first ``warmup``."""
    env = simpy.Environment()
    queue = SimPyTierQueue(env, slots)
    rng = np.random.default_rng(seed)
    gaps = rng.exponential(1.0 / arrival_rate, n_requests)

    def arrivals() -> Generator[simpy.events.Event, None, None]:
        for gap in gaps:
            yield env.timeout(gap)
            env.process(queue.serve(service(rng)))

    env.process(arrivals())
    env.run()
    return float(np.mean(queue.waits_s[warmup:]))


class SimClock:
    """Virtual time: ``now_s() == epoch_s + env.now`` (SimPy time unit = one second).

    Inside SimPy processes wait with ``yield clock.timeout(seconds)``. ``sleep_s`` (for code written against the
    async Clock protocol, outside a running simulation) advances the environment by running it.
    """

    def __init__(self, env: simpy.Environment | None = None, epoch_s: float = 0.0) -> None:
        self.env = env if env is not None else simpy.Environment()
        self.epoch_s = float(epoch_s)

    def now_s(self) -> float:
        return self.epoch_s + float(self.env.now)

    def timeout(self, seconds: float) -> simpy.events.Timeout:
        return self.env.timeout(max(seconds, 0.0))

    async def sleep_s(self, seconds: float) -> None:
        if seconds > 0:
            self.env.run(until=self.env.now + seconds)
