"""A model update in virtual time (issue 10): the satellite tier serves the old version's host time until the
new version's uplink completes over its contact windows, the new one's after; the completion is in the summary."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from maas.errors import ConfigError
from maas.routing import build_policy
from maas.sim.engine import run_policy
from maas.sim.runner import prepare, run
from maas.sim.scenario import load_scenario

ARRIVALS_S = [1.0, 50.0, 80.0, 205.0, 214.9, 215.0, 216.0, 250.0]


def _scenario(tmp_path, **update) -> str:
    (tmp_path / "trace.csv").write_text("t_s\n" + "\n".join(str(t) for t in ARRIVALS_S) + "\n")
    spec = {
        "name": "uplink",
        "epoch_start": "1970-01-01T00:00:00Z",  # table windows are [k x 100 s, k x 100 s + 60 s) of UNIX time
        "duration_s": 300.0,
        "platform_ms": 0.0,
        "compute_cv": 0.0,
        "table_tiers": [
            {
                "name": "satellite",
                "kind": "satellite",
                "uplink_ms": 0.0,
                "downlink_ms": 0.0,
                "up_period_s": 100.0,
                "up_s": 60.0,
            }
        ],
        "models": {"m": {"host_compute_ms": 10.0, "input_bytes": 0, "output_bytes": 0}},
        "workload": {"kind": "trace", "trace_file": "trace.csv"},
        "tenants": [{"name": "t", "share": 1.0, "models": {"m": 1.0}}],
        "policies": ["single-tier-satellite"],
        "oracle": {"enabled": False},
        "model_updates": [
            {
                "model": "m",
                "at_s": 5.0,
                "size_bytes": 100_000,
                "host_compute_ms": 4.0,
                "uplink_bps": 8000.0,
                "setup_s": 10.0,
                **update,
            }
        ],
    }
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(spec))
    return str(path)


def test_satellite_serves_the_old_version_until_the_uplink_completes(tmp_path) -> None:
    path = _scenario(tmp_path)
    prep = prepare(load_scenario(path), path)
    # 1,000 B/s after 10 s setup per window: [5, 60) carries 45,000 B (from 15 s), [100, 160) 50,000 B (from 110 s),
    # [200, 260) the last 5,000 B from 210 s: complete at 215 s, in the third window
    (update,) = prep.model_updates
    assert update["uplink_complete_s"] == pytest.approx(215.0) and update["windows_used"] == 3
    assert prep.inp.host_switches == [(0, "satellite", pytest.approx(215.0), 4.0)]
    rec = run_policy(prep.inp, build_policy("single-tier-satellite"))
    # exact: no link time, no platform time, no compute spread; the arrival at 80 s is outside every window (dropped)
    expected = [10.0, 10.0, np.nan, 10.0, 10.0, 4.0, 4.0, 4.0]
    np.testing.assert_array_equal(rec.tier, [0, 0, -1, 0, 0, 0, 0, 0])
    np.testing.assert_allclose(rec.latency_ms, expected, equal_nan=True)
    out = run(prep, oracle=False)
    assert out["single-tier-satellite"]["model_updates"][0]["uplink_complete_s"] == pytest.approx(215.0)


def test_speed_factor_and_an_uplink_that_never_completes(tmp_path) -> None:
    path = _scenario(tmp_path, host_compute_ms=None, speed_factor=0.5, size_bytes=10_000_000)
    prep = prepare(load_scenario(path), path)
    (update,) = prep.model_updates
    # 10 MB: 45,000 B in the first window, 50,000 B in each of the next 199 (to 19,960 s), the last 5,000 B in the
    # window at 20,000 s from 20,010 s: complete at 20,015 s, long after this 300 s run; the engine never switches
    assert update["new_host_ms"] == 5.0 and update["uplink_complete_s"] == pytest.approx(20_015.0)
    assert update["windows_used"] == 201
    rec = run_policy(prep.inp, build_policy("single-tier-satellite"))
    assert set(np.round(rec.latency_ms[~np.isnan(rec.latency_ms)], 6)) == {10.0}


def test_bad_updates_name_the_field(tmp_path) -> None:
    for update, field in (
        ({"model": "nope"}, "model_updates.0.model"),
        ({"speed_factor": 0.5}, "host_compute_ms"),
        ({"uplink_bps": None}, "model_updates.0.uplink_bps"),
        ({"tier": "x"}, "model_updates.0.tier"),
    ):
        path = _scenario(tmp_path, **update)
        with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
            prepare(load_scenario(path), path)
