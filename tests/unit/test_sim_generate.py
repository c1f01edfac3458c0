"""The scenario generator: seeded, inside its documented ranges, valid scenarios, bad ranges refused."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from maas.errors import ConfigError
from maas.sim.generate import GeneratorRanges, generate, generate_many, ranges_from, write_scenarios
from maas.sim.runner import prepare
from maas.sim.scenario import load_scenario
from maas.sim.workload import arrival_times


def test_same_seed_same_scenario_and_index_independent_of_n():
    a = generate_many(3, seed=5)
    b = generate_many(5, seed=5)
    assert [g.spec.model_dump() for g in a] == [g.spec.model_dump() for g in b[:3]]
    assert generate(6, 0).spec.model_dump() != a[0].spec.model_dump()


def test_draws_stay_in_their_ranges():
    r = GeneratorRanges(load=(0.6, 0.9), sites=(10, 30), deadline_ms=(20, 500), tenants=(2, 4))
    for g in generate_many(12, seed=1, ranges=r):
        t = g.traits
        assert 0.6 <= t["load"] <= 0.9 and 10 <= t["sites"] <= 30
        assert 2 <= len(g.spec.tenants) <= 4
        assert all(20 <= x.deadline_ms <= 500 for x in g.spec.tenants)
        assert g.spec.workload.kind in ("poisson", "gamma", "diurnal", "flash")
        if g.spec.workload.kind == "gamma":
            assert 1.0 <= g.spec.workload.cv <= 4.0
        assert len(t["faults"]) <= 4
        for f in g.spec.faults:
            assert 0 <= f.start_s < f.end_s <= g.spec.duration_s + 0.02


def test_written_scenarios_load_and_prepare(tmp_path):
    gens = [g for g in generate_many(20, seed=3) if g.files][:1] + generate_many(2, seed=3)
    paths = write_scenarios(gens, tmp_path)
    for p in paths:
        spec = load_scenario(p)
        prep = prepare(spec, str(p), policies=["edge-aware"])
        assert 100 < len(prep.inp.trace) <= 5000  # the exact oracle's size
    raw = yaml.safe_load(paths[0].read_text())
    assert (tmp_path / raw["topology"]).exists()  # the battery-low topology variant is next to it


def test_battery_low_variant_starts_near_reserve():
    g = next(g for g in generate_many(30, seed=3) if g.files)
    (text,) = g.files.values()
    battery = yaml.safe_load(text)["tiers"]["satellite"]["battery"]
    assert 20 <= battery["initial_j"] - battery["reserve_j"] <= 200


@pytest.mark.parametrize("values, field", [
    ({"load": (0.9, 0.5)}, "load"),
    ({"load": (0.5, 2.0)}, "load"),
    ({"tenants": (0, 3)}, "tenants"),
    ({"faults": ("meteor",)}, "faults"),
    ({"arrivals": ()}, "arrivals"),
    ({"requests": 10}, "requests"),
])
def test_unsatisfiable_ranges_name_the_field(values, field):
    with pytest.raises(ConfigError) as err:
        ranges_from(values)
    assert err.value.field == field


def test_zero_scenarios_refused():
    with pytest.raises(ConfigError) as err:
        generate_many(0, seed=1)
    assert err.value.field == "n" and err.value.allowed == ">= 1"


def test_flash_crowd_multiplies_the_rate_in_its_window():
    rng = np.random.default_rng(0)
    t = arrival_times("flash", 1000.0, 10.0, rng, flash_start_s=4.0, flash_s=2.0, flash_factor=4.0)
    inside = ((t >= 4.0) & (t < 6.0)).sum() / 2.0
    outside = ((t < 4.0) | (t >= 6.0)).sum() / 8.0
    assert inside / outside == pytest.approx(4.0, rel=0.1)
    assert np.all(np.diff(t) >= 0)
