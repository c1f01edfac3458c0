"""maas plan: candidates by total slots, the search's answer meets the target on a fresh seed, bad input."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from maas.cli.main import app
from maas.errors import ConfigError
from maas.sim.plan import Capacity, candidates, check, search
from maas.sim.sweep import SweepScenario, run_local

SCENARIO = Path(__file__).resolve().parents[2] / "cluster" / "scenarios" / "default-city.yaml"


def _small() -> SweepScenario:
    s = SweepScenario.from_file(SCENARIO)
    s.spec["duration_s"] = 0.4
    return s


def test_candidates_fewest_slots_first_and_never_empty():
    cap = Capacity({"a": 4, "b": 16}, {"a": 2, "b": 1})
    c = candidates(["a", "b"], 2, cap)
    totals = [cap.total(x) for x in c]
    assert totals == sorted(totals) and {"a": 0, "b": 0} not in c
    assert c[0] == {"a": 1, "b": 0} and len(c) == 8


def test_search_answer_meets_the_target_on_a_fresh_seed():
    s = _small()
    target = 0.97
    res = search(s, target, run_local, tiers=["base-station", "ground"], max_replicas=1, seeds=2)
    assert res.answer is not None
    assert res.attainment["lo"] >= target
    # nothing with fewer slots met the target
    assert all(not e["meets"] for e in res.evaluated if e["total_slots"] < res.total_slots)
    assert check(s, res.answer, seed=99)["slo_attainment"] >= target


@pytest.mark.parametrize("kwargs, field", [
    ({"target": 1.5}, "--target-attainment"), ({"seeds": 0}, "--seeds"), ({"max_replicas": 0}, "--max-replicas"),
    ({"tiers": ["nope"]}, "--tiers"),
])
def test_bad_input_names_the_field(kwargs, field):
    args = {"target": 0.99, **kwargs}
    target = args.pop("target")
    with pytest.raises(ConfigError) as err:
        search(_small(), target, run_local, **args)
    assert err.value.field == field


def test_cli_bad_target_exits_2():
    res = CliRunner().invoke(app, ["plan", "--scenario", str(SCENARIO), "--target-attainment", "0", "--local"])
    assert res.exit_code == 2 and "--target-attainment" in res.output and "allowed" in res.output


def test_plan_cli_unreachable_ray_address_exits_2(tmp_path):
    import socket

    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    res = CliRunner().invoke(app, ["plan", "--scenario", str(SCENARIO), "--seeds", "1",
                                   "--ray-address", f"127.0.0.1:{port}"])
    assert res.exit_code == 2 and "no Ray GCS answers" in res.output and "allowed" in res.output
