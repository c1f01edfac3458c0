"""Payloads from real inputs and the request mix."""

from __future__ import annotations

import json

import numpy as np
import pytest

from maas.errors import ConfigError
from maas.loadtest.mix import default_mix, load_mix, prepare_mix, single_model_mix
from maas.loadtest.payloads import SENTENCES, digit_rows, inputs_from_metadata, maintenance_rows, reference_inputs


def test_reference_inputs_match_the_model_signatures():
    rng = np.random.default_rng(0)
    text = reference_inputs("minilm-embed", 3, rng)[0]
    assert text["name"] == "text" and text["datatype"] == "BYTES" and text["shape"] == [3]
    assert all(s in SENTENCES for s in text["data"])
    pix = reference_inputs("digits-mlp", 2, rng)[0]
    assert pix["name"] == "pixels" and pix["shape"] == [2, 64] and len(pix["data"]) == 128
    feat = reference_inputs("maintenance-clf", 4, rng)[0]
    assert feat["name"] == "features" and feat["shape"] == [4, 6] and feat["datatype"] == "FP32"
    assert reference_inputs("other", 1, rng) is None


def test_digits_are_real_images():
    rows = digit_rows(500, np.random.default_rng(1))
    assert rows.shape == (500, 64) and rows.min() == 0 and rows.max() == 16
    assert np.all(rows == np.round(rows))
    assert np.all(rows[:, 0] == 0)  # the top-left pixel of every UCI digit is blank


def test_maintenance_rows_are_in_physical_ranges():
    rows = maintenance_rows(5000, np.random.default_rng(2))
    product, air, proc, speed, torque, wear = rows.T
    assert set(np.unique(product)) == {0.0, 1.0, 2.0}
    assert 295 <= air.min() and air.max() <= 305 and 305 <= proc.min() and proc.max() <= 314
    assert np.all(proc > air)
    assert 1150 <= speed.min() and speed.max() <= 2900 and 3 <= torque.min() and torque.max() <= 77
    assert 0 <= wear.min() and wear.max() <= 253
    assert np.corrcoef(speed, torque)[0, 1] < -0.5  # constant-power machine: faster means less torque


def test_inputs_from_metadata():
    meta = {
        "inputs": [
            {"name": "x", "datatype": "INT64", "shape": [-1, 3]},
            {"name": "s", "datatype": "BYTES", "shape": [-1]},
        ]
    }
    x, s = inputs_from_metadata(meta, 2, np.random.default_rng(0))
    assert x["shape"] == [2, 3] and len(x["data"]) == 6 and all(isinstance(v, int) for v in x["data"])
    assert s["shape"] == [2] and all(isinstance(v, str) for v in s["data"])


def test_prepare_mix_bodies_carry_hints():
    mix = single_model_mix("digits-mlp", deadline_ms=40, objective="energy", site="porto", tier=None)
    (entry,) = prepare_mix(mix, seed=3, variants=5)
    assert entry.path == "/v2/models/digits-mlp/infer" and entry.deadline_ms == 40
    assert len(entry.bodies) == 5 and len(set(entry.bodies)) == 5
    doc = json.loads(entry.bodies[0])
    assert doc["parameters"] == {"deadline_ms": 40, "objective": "energy", "site": "porto"}
    assert doc["inputs"][0]["name"] == "pixels"
    assert prepare_mix(mix, seed=3, variants=5)[0].bodies == entry.bodies


def test_unknown_model_needs_metadata():
    mix = single_model_mix("resnet")
    with pytest.raises(ConfigError):
        prepare_mix(mix, 0)
    meta = {"inputs": [{"name": "img", "datatype": "FP32", "shape": [-1, 4]}]}
    (entry,) = prepare_mix(mix, 0, 2, metadata=lambda m: meta)
    assert json.loads(entry.bodies[0])["inputs"][0]["shape"] == [1, 4]


def test_default_mix_has_deadlines_for_every_reference_model():
    mix = default_mix()
    assert mix.models == ["digits-mlp", "maintenance-clf", "minilm-embed"]
    assert all(e.deadline_ms for e in mix.entries)


def test_load_mix(tmp_path):
    p = tmp_path / "mix.yaml"
    p.write_text("entries:\n  - {model: digits-mlp, weight: 2, deadline_ms: 30}\n  - {model: minilm-embed}\n")
    mix = load_mix(p)
    assert mix.weights == [2.0, 1.0] and mix.entries[0].deadline_ms == 30


@pytest.mark.parametrize(
    "text,field",
    [
        ("entries: []", "entries"),
        ("entries:\n  - {model: m, objective: fast}", "entries.0.objective"),
        ("entries:\n  - {model: m, weight: -1}", "entries.0.weight"),
        ("entries:\n  - {model: m, colour: red}", "entries.0.colour"),
    ],
)
def test_bad_mix_files_name_the_field(tmp_path, text, field):
    p = tmp_path / "mix.yaml"
    p.write_text(text)
    with pytest.raises(ConfigError) as exc:
        load_mix(p)
    assert exc.value.field == field and str(p) in exc.value.message
    if field.endswith("objective"):
        assert "latency, balanced, energy, carbon" in exc.value.message
