"""Sweep logic without Ray: keys, grid expansion, one replication, intervals, the Pareto marks, the CLI's refusals."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from typer.testing import CliRunner

from maas.cli.main import app
from maas.errors import ConfigError
from maas.sim.sweep import SweepScenario, aggregate, expand, pareto, parse_vary, run_local, sweep_keys

SCENARIO = Path(__file__).resolve().parents[2] / "cluster" / "scenarios" / "default-city.yaml"


def test_keys_cover_policy_options_scenario_fields_and_replicas():
    keys = sweep_keys()
    assert {"epsilon", "lyapunov_v", "rate_rps", "cv", "replicas.base-station"} <= set(keys)
    assert "clock" not in keys


def test_parse_vary_checks_keys_and_values():
    assert parse_vary(["epsilon=0.01,0.05", "replicas.ground=1,2"]) == {"epsilon": [0.01, 0.05],
                                                                        "replicas.ground": [1, 2]}
    with pytest.raises(ConfigError) as err:
        parse_vary(["nope=1,2"])
    assert err.value.field == "nope" and "epsilon" in err.value.allowed
    for bad in (["epsilon"], ["epsilon=a,b"], ["replicas.ground=-1"], ["replicas.ground=1.5"]):
        with pytest.raises(ConfigError):
            parse_vary(bad)


def test_expand_is_the_grid_times_seeds():
    s = SweepScenario("x", {"name": "x"})
    tasks = expand([s], {"epsilon": [0.01, 0.05], "lyapunov_v": [1, 10, 100]}, seeds=3)
    assert len(tasks) == 2 * 3 * 3
    assert {(t["point"]["epsilon"], t["point"]["lyapunov_v"]) for t in tasks} == {
        (e, v) for e in (0.01, 0.05) for v in (1, 10, 100)}
    with pytest.raises(ConfigError):
        expand([s], {}, seeds=0)
    with pytest.raises(ConfigError):
        expand([], {}, seeds=1)


def test_replications_differ_by_seed_and_aggregate_with_t_interval():
    s = SweepScenario.from_file(SCENARIO)
    s.spec["duration_s"] = 0.3
    tasks = expand([s], {"epsilon": [0.05]}, seeds=2)
    results = run_local(tasks)
    assert [r["seed"] for r in results] == [0, 1]
    a = [r["figures"]["edge-aware"]["slo_attainment"] for r in results]
    (row,) = aggregate(results)
    ci = row["slo_attainment"]
    assert ci["n"] == 2 and ci["mean"] == pytest.approx(sum(a) / 2, abs=1e-6)
    half = 12.706 * abs(a[0] - a[1]) / math.sqrt(2) / math.sqrt(2)  # t(0.975, 1) * s / sqrt(n)
    assert (ci["hi"] - ci["lo"]) / 2 == pytest.approx(half, abs=1e-5)


def test_replication_applies_the_point():
    s = SweepScenario.from_file(SCENARIO)
    s.spec["duration_s"] = 0.2
    one = run_local(expand([s], {"rate_rps": [500]}, seeds=1))[0]
    two = run_local(expand([s], {"rate_rps": [1000]}, seeds=1))[0]
    assert two["requests"] == pytest.approx(2 * one["requests"], rel=0.25)


def _row(a, e):
    return {"scenario": "s", "policy": "edge-aware", "point": {}, "slo_attainment": {"mean": a},
            "energy_j_per_success": {"mean": e}}


def test_pareto_marks_undominated_points():
    rows = [_row(0.99, 1.0), _row(0.98, 0.5), _row(0.97, 0.9), _row(0.99, 1.2)]
    assert [r["pareto"] for r in pareto(rows)] == [True, True, False, False]


@pytest.mark.parametrize("args, needle", [
    (["--scenario", str(SCENARIO), "--vary", "nope=1"], "nope"),
    (["--scenario", str(SCENARIO), "--seeds", "0"], "--seeds"),
    (["--generate", "0"], "--generate"),
    (["--scenario", str(SCENARIO), "--ray-address", "not-an-address"], "--ray-address"),
    (["--scenario", str(SCENARIO), "--policies", "nope"], "--policies"),
])
def test_cli_bad_input_exits_2_naming_the_field(args, needle, tmp_path):
    out = tmp_path / "sweep.json"
    res = CliRunner().invoke(app, ["sim", "sweep", *args, "--json-out", str(out)])
    assert res.exit_code == 2, res.output
    assert needle in res.output and "allowed" in res.output
    assert not out.exists()


def test_cli_unreachable_ray_address_exits_2_quickly(tmp_path):
    import socket
    import time

    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    out = tmp_path / "sweep.json"
    t0 = time.perf_counter()
    res = CliRunner().invoke(app, ["sim", "sweep", "--scenario", str(SCENARIO), "--seeds", "1",
                                   "--ray-address", f"127.0.0.1:{port}", "--json-out", str(out)])
    assert res.exit_code == 2 and "no Ray GCS answers" in res.output and "--ray-address" in res.output
    assert time.perf_counter() - t0 < 10.0 and not out.exists()


def test_cli_local_sweep_writes_json_and_plot(tmp_path):
    out, png = tmp_path / "sweep.json", tmp_path / "frontier.png"
    res = CliRunner().invoke(app, ["sim", "sweep", "--generate", "1", "--seeds", "2", "--vary", "epsilon=0.02,0.1",
                                   "--vary", "duration_s=0.2", "--local", "--json-out", str(out), "--plot", str(png)])
    assert res.exit_code == 0, res.output
    import json

    data = json.loads(out.read_text())
    assert data["tasks"] == 4 and len(data["rows"]) == 2
    assert any(r["pareto"] for r in data["rows"]) and png.stat().st_size > 0
