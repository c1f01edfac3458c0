"""Scenario validation, bad input through ``maas sim`` (exit 2, nothing written), and the JSON report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from maas.cli.sim import app
from maas.errors import ConfigError
from maas.sim.metrics import METRIC_KEYS
from maas.sim.scenario import load_scenario

BASE = {
    "name": "tiny",
    "table_tiers": [
        {"name": "edge", "kind": "base-station", "uplink_ms": 2, "downlink_ms": 2, "link_sigma": 0.2,
         "slowdown": 1.5, "power_w": 10, "slots": 2},
        {"name": "dc", "kind": "ground", "uplink_ms": 8, "downlink_ms": 8, "link_sigma": 0.2, "slowdown": 0.5,
         "power_w": 100, "slots": 4},
    ],
    "duration_s": 2,
    "seed": 1,
    "models": {"small": {"host_compute_ms": 4.0}},
    "workload": {"kind": "gamma", "rate_rps": 100, "cv": 2.0},
    "tenants": [{"name": "t", "share": 1, "deadline_ms": 25, "objective": "energy", "models": {"small": 1}}],
    "policies": ["edge-aware", "greedy-energy"],
    "oracle": {"max_requests": 1000},
}


def write(tmp_path: Path, **changes) -> Path:
    doc = json.loads(json.dumps(BASE))
    for key, value in changes.items():
        target = doc
        *parents, last = key.split(".")
        for p in parents:
            target = target[int(p)] if isinstance(target, list) else target[p]
        if isinstance(target, list):
            target[int(last)] = value
        else:
            target[last] = value
    path = tmp_path / "scenario.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


@pytest.mark.parametrize(
    ("change", "field", "needle"),
    [
        ({"workload.rate_rps": -5}, "workload.rate_rps", "> 0"),
        ({"tenants.0.deadline_ms": 0}, "tenants.0.deadline_ms", "> 0"),
        ({"tenants.0.models": {"huge": 1}}, "tenants.0.models.huge", "small"),
        ({"tenants.0.objective": "speed"}, "tenants.0.objective", "latency"),
        ({"workload.kind": "bursty"}, "workload.kind", "poisson"),
    ],
)
def test_bad_scenarios_name_the_field(tmp_path: Path, change: dict, field: str, needle: str) -> None:
    path = write(tmp_path, **change)
    with pytest.raises(ConfigError) as info:
        load_scenario(path)
    assert info.value.field == field
    assert needle in info.value.message and str(path) in info.value.message


@pytest.mark.parametrize(
    ("change", "args", "needle"),
    [
        ({}, ["--policies", "edge-aware,magic"], "unknown policy 'magic'"),
        ({"replicas": {"fpga": 2}}, [], "replicas.fpga: unknown tier (allowed: edge, dc)"),
        ({"faults": [{"kind": "outage", "tier": "moon", "start_s": 0, "end_s": 1}]}, [], "unknown tier 'moon'"),
        ({"workload.rate_rps": -1}, [], "workload.rate_rps"),
        ({}, ["-o", "xml"], "allowed: table, wide, json, csv"),
    ],
)
def test_cli_bad_input_exits_2_and_writes_nothing(tmp_path: Path, change: dict, args: list[str],
                                                  needle: str) -> None:
    path = write(tmp_path, **change)
    plot = tmp_path / "pareto.png"
    result = CliRunner().invoke(app, ["--scenario", str(path), "--plot", str(plot), *args])
    assert result.exit_code == 2, result.output
    assert needle in result.output
    assert "Traceback" not in result.output
    assert not plot.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scenario.yaml"]


def test_cli_json_keys_plot_and_oracle(tmp_path: Path) -> None:
    path = write(tmp_path)
    plot = tmp_path / "pareto.png"
    result = CliRunner().invoke(app, ["--scenario", str(path), "-o", "json", "--plot", str(plot)])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert set(data) == {"edge-aware", "greedy-energy", "oracle"}
    for name in ("edge-aware", "greedy-energy"):
        assert set(data[name]) == set(METRIC_KEYS) | {"by_objective"}  # + each tenant objective's figures
        assert set(data[name]["tier_share"]) == {"edge", "dc"}
        groups = data[name]["by_objective"]
        assert groups and all(set(g) == {"requests", "slo_attainment", "mean_latency_ms", "energy_j_per_request",
                                         "carbon_g_per_request"} for g in groups.values())
    assert set(METRIC_KEYS) <= set(data["oracle"])
    assert data["oracle"]["status"] == "optimal"
    # the oracle bound is at least as good as any policy on attainment
    assert data["oracle"]["slo_attainment"] >= data["edge-aware"]["slo_attainment"]
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_oracle_too_large_is_a_message_not_a_hang(tmp_path: Path) -> None:
    path = write(tmp_path, **{"oracle": {"max_requests": 10}})
    result = CliRunner().invoke(app, ["--scenario", str(path), "-o", "json", "--policies", "greedy-energy"])
    assert result.exit_code == 0
    assert "too large" in json.loads(result.output)["oracle"]["skipped"]


def test_same_seed_same_result(tmp_path: Path) -> None:
    path = write(tmp_path)
    runs = [CliRunner().invoke(app, ["--scenario", str(path), "-o", "json", "--no-oracle", "--seed", "4"])
            for _ in range(2)]
    a, b = (json.loads(r.output) for r in runs)
    for d in (a, b):
        for v in d.values():
            v.pop("decision_us_p99")
    assert a == b
