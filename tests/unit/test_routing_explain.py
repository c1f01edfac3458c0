"""``maas route explain``: the decision with its reasons, and bad input (exit 2, no traceback)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from maas.cli.route import app

TOPOLOGY = Path(__file__).resolve().parents[2] / "cluster" / "topology.yaml"


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--objective", "fastest"], "allowed: latency, balanced, energy, carbon"),
        (["--deadline-ms", "0"], "--deadline-ms: 0.0 is not > 0"),
        (["--at", "yesterday"], "--at: not an ISO-8601 time"),
        (["--policy", "psychic"], "unknown routing policy 'psychic'"),
        (["--site", "atlantis"], "unknown site 'atlantis'"),
    ],
)
def test_bad_input_exits_2(args: list[str], needle: str) -> None:
    if not TOPOLOGY.exists() and "--site" in args:
        pytest.skip("cluster/topology.yaml not present")
    result = CliRunner().invoke(app, ["explain", "--model", "m", "--topology", str(TOPOLOGY), *args])
    assert result.exit_code == 2, result.output
    assert needle in result.output
    assert "Traceback" not in result.output


@pytest.mark.skipif(not TOPOLOGY.exists(), reason="cluster/topology.yaml not present")
def test_explain_json_ranks_and_gives_reasons() -> None:
    result = CliRunner().invoke(app, ["explain", "--model", "m", "--host-ms", "0.1", "--deadline-ms", "20",
                                      "--strict", "--topology", str(TOPOLOGY), "-o", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert sorted(data["ranking"]) == sorted(data["tiers"])
    first = data["ranking"][0]
    assert data["feasible"] is (first not in data["reasons"])
    assert data["would_503"] is (not data["feasible"])
    # every tier ranked after an infeasible one is infeasible too (feasible tiers come first)
    flags = [t not in data["reasons"] for t in data["ranking"]]
    assert flags == sorted(flags, reverse=True)
