"""The routing-quality suite's row on a small generated scenario: both oracles, the ratios, the cache."""

from __future__ import annotations

import json

import pytest

from maas.sim.generate import GeneratorRanges, generate
from maas.sim.suite import aggregate, dominators, evaluate


@pytest.fixture(scope="module")
def small():
    return generate(5, 1, GeneratorRanges(requests=300, sites=(10, 12)))


def test_row_has_both_oracles_and_ratios_to_each(small, tmp_path) -> None:
    cache = tmp_path / "cache"
    row = evaluate(small, tmp_path, cache_dir=cache)
    o, oo = row["oracle"], row["oracle_objective"]
    assert o["status"] == oo["status"] == "optimal"
    assert oo["slo_attainment"] == o["slo_attainment"]  # stage 1 is shared
    assert set(row["dominated_by_objective_aware"]) <= set(row["dominated_by"])
    assert oo["energy_j_per_success"] >= o["energy_j_per_success"] - 1e-12  # least energy is a lower bound
    for name, p in row["policies"].items():
        assert p["energy_vs_oracle"] == pytest.approx(p["energy_j_per_success"] / o["energy_j_per_success"], 1e-4)
        assert p["energy_vs_objective_oracle"] == pytest.approx(
            p["energy_j_per_success"] / oo["energy_j_per_success"], 1e-4), name
    (cached,) = cache.iterdir()
    data = json.loads(cached.read_text())
    assert {"oracle", "oracle-objective"} <= set(data) and "edge-aware" not in data
    again = evaluate(small, tmp_path, cache_dir=cache)  # from the cache: the same figures
    assert again["oracle_objective"] == oo and again["policies"] == row["policies"]


def test_dominators_never_name_an_oracle() -> None:
    results = {"edge-aware": {"slo_attainment": 0.9, "energy_j_per_request": 2.0},
               "oracle": {"slo_attainment": 1.0, "energy_j_per_request": 1.0},
               "oracle-objective": {"slo_attainment": 1.0, "energy_j_per_request": 1.5},
               "greedy-energy": {"slo_attainment": 0.95, "energy_j_per_request": 1.0},
               "greedy-latency": {"slo_attainment": 0.95, "energy_j_per_request": 3.0}}
    assert dominators(results) == ["greedy-energy"]


def test_objective_aware_dominance_spares_a_policy_that_honours_latency_tenants() -> None:
    def fig(att, e, lat_ms, carbon=1.0):
        return {"slo_attainment": att, "energy_j_per_request": e,
                "by_objective": {"latency": {"mean_latency_ms": lat_ms}, "carbon": {"carbon_g_per_request": carbon}}}

    results = {"edge-aware": fig(0.99, 2.0, 5.0), "greedy-energy": fig(0.995, 1.0, 12.0),
               "cheap-and-fast": fig(0.995, 1.0, 4.0), "dirtier": fig(0.995, 1.0, 4.0, carbon=2.0)}
    assert dominators(results) == ["greedy-energy", "cheap-and-fast", "dirtier"]
    assert dominators(results, objective_aware=True) == ["cheap-and-fast"]


def test_row_counts_each_objective_groups_figures(small, tmp_path) -> None:
    from maas.sim.runner import prepare, run

    prep = prepare(small.spec, str(small.materialise(tmp_path)))
    prep.policies = ["edge-aware"]
    fig = run(prep, oracle=False)["edge-aware"]
    groups = fig["by_objective"]
    assert sum(g["requests"] for g in groups.values()) == len(prep.inp.trace)
    assert set(groups) == {t.objective for t in small.spec.tenants}
    total_j = sum(g["energy_j_per_request"] * g["requests"] for g in groups.values())
    assert total_j / len(prep.inp.trace) == pytest.approx(fig["energy_j_per_request"], rel=1e-3)


def test_aggregate_reports_both_energy_ratios() -> None:
    rows = [{"scenario": f"s{i}", "dominated_by": ["b"] if i == 0 else [],
             "policies": {"a": {"attainment_vs_oracle": 1.0 - i / 100, "energy_vs_oracle": 1.0 + i,
                                "energy_vs_objective_oracle": 1.0 + i / 10}}} for i in range(5)]
    agg = aggregate(rows, main="a")
    assert agg["a"]["energy_vs_oracle"]["median"] == 3.0
    assert agg["a"]["energy_vs_objective_oracle"]["median"] == 1.2
    assert agg["a"]["energy_vs_objective_oracle"]["worst"] == 1.4
    assert agg["a"]["attainment_vs_oracle"]["worst"] == 0.96
    assert agg["_main"]["dominated_on"] == 1
