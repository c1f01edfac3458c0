"""``SimClock``: the ``maas.clock.Clock`` protocol on top of a SimPy ``Environment`` (virtual time)."""

from __future__ import annotations

import simpy

__all__ = ["SimClock"]


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
