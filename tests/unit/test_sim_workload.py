"""Arrival processes and trace replay."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from maas.sim.workload import arrival_times, build_trace, read_trace_times


def test_poisson_and_gamma_rates_and_burstiness() -> None:
    rng = np.random.default_rng(5)
    t = arrival_times("poisson", 200.0, 100.0, rng)
    assert t[0] >= 0 and t[-1] < 100.0 and np.all(np.diff(t) > 0)
    assert len(t) == pytest.approx(20_000, rel=0.03)
    g = arrival_times("gamma", 200.0, 100.0, np.random.default_rng(6), cv=2.0)
    gaps = np.diff(g)
    assert len(g) == pytest.approx(20_000, rel=0.05)
    assert gaps.std() / gaps.mean() == pytest.approx(2.0, rel=0.1)
    p = np.diff(t)
    assert p.std() / p.mean() == pytest.approx(1.0, rel=0.05)


def test_diurnal_peaks_where_the_sine_does() -> None:
    t = arrival_times("diurnal", 50.0, 1000.0, np.random.default_rng(1), amplitude=0.8, period_s=1000.0)
    first, second = (t < 500).sum(), (t >= 500).sum()  # sin > 0 on the first half period
    assert first > 1.5 * second
    assert len(t) == pytest.approx(50_000, rel=0.05)


def test_trace_replay_and_mix(tmp_path: Path) -> None:
    path = tmp_path / "trace.csv"
    path.write_text("t_s\n0.5\n0.1\n2.0\n")
    t = read_trace_times(path)
    assert t.tolist() == [0.1, 0.5, 2.0]
    trace = build_trace(t, np.array([1.0, 0.0]), np.array([1.0]), [np.array([0.0, 1.0])],
                        np.random.default_rng(0))
    assert trace.site.tolist() == [0, 0, 0] and trace.model.tolist() == [1, 1, 1]
    path.write_text("time\n1\n")
    with pytest.raises(ValueError, match="t_s"):
        read_trace_times(path)
