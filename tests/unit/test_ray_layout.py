"""The Ray layout file: validated, tiers checked against the topology, node start commands derived from it."""

from __future__ import annotations

import json

import pytest

from maas.errors import ConfigError
from maas.serving.layout import load_layout, node_start_commands
from maas.settings import load_settings

TIERS = ["base-station", "optical-access", "ground", "satellite"]


def test_default_layout_gives_every_tier_a_node_command():
    layout = load_layout(load_settings(None).layout_path, TIERS)
    commands = node_start_commands(layout, "10.0.0.1:6379")
    assert commands[0].startswith("ray start --head")
    tiers = [json.loads(c.split("--resources ")[1].strip("'")) for c in commands[1:]]
    assert sorted(k for t in tiers for k in t) == sorted(f"tier:{t}" for t in TIERS)
    assert layout.replica.tier_units_per_replica <= layout.embedded.tier_units


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("multi_node:\n  nodes:\n    - tier: moon\n", "multi_node.nodes.0.tier"),
        ("embedded:\n  tier_units: -1\n", "embedded.tier_units"),
        ("replica:\n  gpus: 1\n", "replica.gpus"),
    ],
)
def test_bad_layout_names_the_field(tmp_path, text, field):
    path = tmp_path / "layout.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_layout(path, TIERS)
    assert field in err.value.message and str(path) in err.value.message
