"""maas sim sweep on a multi-node Ray cluster (the package's Cluster fixture): replications run as Ray tasks on
several nodes and give exactly the figures of the in-process run."""

from __future__ import annotations

from pathlib import Path

from maas.serving.sweep_runner import run_tasks
from maas.sim.sweep import SweepScenario, aggregate, expand, run_local

SCENARIO = Path(__file__).resolve().parents[2] / "cluster" / "scenarios" / "default-city.yaml"


def test_sweep_tasks_spread_over_nodes_and_match_local(tier_cluster):
    s = SweepScenario.from_file(SCENARIO)
    s.spec["duration_s"] = 0.5
    tasks = expand([s], {"epsilon": [0.02, 0.05]}, seeds=4)
    remote = run_tasks(tasks)  # the fixture's driver is connected: reused, not shut down
    assert len(remote) == len(tasks)
    assert len({r["node"] for r in remote}) >= 2
    local = run_local(tasks)
    assert [r["figures"] for r in remote] == [r["figures"] for r in local]
    rows = aggregate(remote)
    assert len(rows) == 2 and all(r["slo_attainment"]["n"] == 4 for r in rows)
