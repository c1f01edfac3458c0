"""The simulator on the real tier models (cluster/topology.yaml), ground tiers only (no orbit propagation)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from maas.errors import ConfigError
from maas.sim.runner import prepare, run
from maas.sim.scenario import load_scenario

TOPOLOGY = Path(__file__).resolve().parents[2] / "cluster" / "topology.yaml"

pytestmark = pytest.mark.skipif(not TOPOLOGY.exists(), reason="cluster/topology.yaml not present")


def scenario(tmp_path: Path, **changes) -> Path:
    doc = {
        "name": "topo-small",
        "topology": str(TOPOLOGY),
        "duration_s": 0.5,
        "region": "riyadh",
        "site_count": 5,
        "tiers": ["base-station", "ground"],
        "models": {"embed": {"host_compute_ms": 8.0, "input_bytes": 2048, "output_bytes": 1536}},
        "workload": {"kind": "poisson", "rate_rps": 200},
        "tenants": [{"name": "t", "share": 1, "deadline_ms": 60, "objective": "energy", "models": {"embed": 1}}],
        "policies": ["edge-aware", "single-tier-ground"],
        "oracle": {"max_requests": 500},
    }
    doc.update(changes)
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def test_runs_on_the_tier_models(tmp_path: Path) -> None:
    path = scenario(tmp_path)
    prep = prepare(load_scenario(path), str(path))
    assert prep.inp.tiers == ["base-station", "ground"]
    assert len(prep.inp.sites) == 5 and all(s.startswith("riyadh") for s in prep.inp.sites)
    res = run(prep)
    ea, ground = res["edge-aware"], res["single-tier-ground"]
    assert set(ea["tier_share"]) == {"base-station", "ground"}
    assert ground["tier_share"]["ground"] == 1.0
    # the base station costs less energy than the data centre for this model: the energy objective uses it
    assert ea["energy_j_per_request"] < ground["energy_j_per_request"]
    assert res["oracle"]["status"] == "optimal"
    assert res["oracle"]["slo_attainment"] >= ea["slo_attainment"] - 1e-9


def test_unknown_region_and_tier(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown region 'atlantis'"):
        path = scenario(tmp_path, region="atlantis")
        prepare(load_scenario(path), str(path))
    with pytest.raises(ConfigError, match="tiers: unknown tier 'fog'"):
        path = scenario(tmp_path, tiers=["fog"])
        prepare(load_scenario(path), str(path))
    with pytest.raises(ConfigError, match="topology: file not found"):
        path = scenario(tmp_path, topology="missing.yaml")
        prepare(load_scenario(path), str(path))
