"""Arrival schedules: rates, shapes, determinism, slicing, trace replay."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from maas.errors import ConfigError
from maas.loadtest.schedule import ArrivalSpec, build_schedule
from maas.loadtest.trace import load_trace


def _sched(**kw):
    return build_schedule(ArrivalSpec(**kw), [1.0, 3.0], [4, 4], seed=7)


def test_poisson_rate_and_exponential_gaps():
    s = _sched(kind="poisson", rate_rps=500, duration_s=40)
    n = len(s)
    assert abs(n - 20_000) < 5 * np.sqrt(20_000)
    gaps = np.diff(s.offsets_s)
    assert np.all(gaps >= 0) and s.offsets_s[-1] < 40
    assert abs(gaps.std() / gaps.mean() - 1.0) < 0.05  # exponential: CV = 1


def test_same_seed_same_schedule_other_seed_differs():
    a = _sched(kind="poisson", rate_rps=100, duration_s=5)
    b = _sched(kind="poisson", rate_rps=100, duration_s=5)
    c = build_schedule(ArrivalSpec(kind="poisson", rate_rps=100, duration_s=5), [1.0, 3.0], [4, 4], seed=8)
    assert np.array_equal(a.offsets_s, b.offsets_s) and np.array_equal(a.entry, b.entry)
    assert not np.array_equal(a.offsets_s[:50], c.offsets_s[:50])


def test_constant_is_evenly_spaced():
    s = _sched(kind="constant", rate_rps=200, duration_s=2)
    assert len(s) == 400
    assert np.allclose(np.diff(s.offsets_s), 0.005)


def test_gamma_burstiness():
    bursty = np.diff(_sched(kind="gamma", rate_rps=400, duration_s=30, cv=3.0).offsets_s)
    smooth = np.diff(_sched(kind="gamma", rate_rps=400, duration_s=30, cv=0.3).offsets_s)
    assert abs(bursty.std() / bursty.mean() - 3.0) < 0.4
    assert abs(smooth.std() / smooth.mean() - 0.3) < 0.05
    assert abs(1.0 / smooth.mean() - 400) < 10


def test_ramp_rate_rises():
    s = _sched(kind="ramp", rate_rps=100, rate_end_rps=900, duration_s=20)
    first = s.rate_between(0, 2)
    last = s.rate_between(18, 20)
    assert 50 < first < 200 and 760 < last < 1000
    assert abs(len(s) - 10_000) < 5 * np.sqrt(10_000)


def test_steps():
    s = _sched(kind="steps", steps=[(5, 100), (5, 1000)])
    assert s.duration_s == 10
    assert abs(s.rate_between(0, 5) - 100) < 25 and abs(s.rate_between(5, 10) - 1000) < 80


def test_mix_weights_and_variants():
    s = _sched(kind="poisson", rate_rps=1000, duration_s=10)
    share = np.mean(s.entry == 1)
    assert abs(share - 0.75) < 0.02
    assert s.variant.min() == 0 and s.variant.max() == 3


def test_slices_interleave_and_cover_everything():
    s = _sched(kind="poisson", rate_rps=300, duration_s=3)
    parts = [s.slice(k, 3) for k in range(3)]
    merged = np.sort(np.concatenate([p.offsets_s for p in parts]))
    assert np.array_equal(merged, s.offsets_s)
    assert np.array_equal(parts[1].offsets_s, s.offsets_s[1::3])


@pytest.mark.parametrize(
    "kw",
    [
        dict(rate_rps=0),
        dict(rate_rps=-1),
        dict(kind="ramp"),
        dict(kind="steps"),
        dict(kind="steps", steps=[(1, 0)]),
        dict(kind="wave"),
    ],
)
def test_bad_specs_rejected(kw):
    with pytest.raises(ValidationError):
        ArrivalSpec(**kw)


def test_trace_replay(tmp_path):
    p = tmp_path / "t.jsonl"
    p.write_text(
        '{"t_s": 0.5, "model": "digits-mlp", "deadline_ms": 50}\n\n# comment\n'
        '{"t_s": 0.1, "model": "minilm-embed", "tenant": "docs"}\n'
        '{"t_s": 0.3, "model": "digits-mlp", "deadline_ms": 50}\n'
    )
    s, mix = load_trace(p)
    assert s.offsets_s.tolist() == [0.1, 0.3, 0.5]
    assert len(mix.entries) == 2
    models = [mix.entries[i].model for i in s.entry]
    assert models == ["minilm-embed", "digits-mlp", "digits-mlp"]
    assert mix.entries[s.entry[1]].deadline_ms == 50


@pytest.mark.parametrize(
    "line,where",
    [
        ("{oops", "line 2"),
        ('{"model": "m"}', "line 2: t_s"),
        ('{"t_s": -1, "model": "m"}', "line 2: t_s"),
        ('{"t_s": 1, "model": "m", "objective": "fast"}', "line 2: objective"),
        ("[1, 2]", "line 2"),
    ],
)
def test_malformed_trace_lines_name_the_line(tmp_path, line, where):
    p = tmp_path / "t.jsonl"
    p.write_text('{"t_s": 0, "model": "digits-mlp"}\n' + line + "\n")
    with pytest.raises(ConfigError) as exc:
        load_trace(p)
    assert where in exc.value.message and str(p) in exc.value.message
