"""poll_until with an injected clock: returns the first truthy value, or times out naming what it waited for."""

from __future__ import annotations

import pytest

from maas.polling import PollTimeout, poll_until


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.pauses: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def pause(self, seconds: float) -> None:
        self.pauses.append(seconds)
        self.now += seconds


def test_returns_first_truthy_value_after_polling():
    t = FakeTime()
    answers = iter([None, 0, "ready"])
    assert poll_until(lambda: next(answers), timeout_s=10, what="x", monotonic=t.monotonic, pause=t.pause) == "ready"
    assert t.pauses == [0.25, 0.25]


def test_times_out_with_the_last_value():
    t = FakeTime()
    with pytest.raises(PollTimeout, match="waiting for the gateway") as err:
        poll_until(lambda: [], timeout_s=1.0, what="the gateway", interval_s=0.3, monotonic=t.monotonic, pause=t.pause)
    assert err.value.last == [] and t.now == pytest.approx(1.2)
