"""What the pictures and the "now" defaults are built from: the Pareto frontier, the battery band, satellites in
view, and ``--at`` meaning the CLI clock's now."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from maas.cli.sim_plot import pareto_front, plot_points
from maas.clock import ManualClock
from maas.tiers.timeline import battery_band, in_view, in_view_counts

TOPOLOGY = Path(__file__).resolve().parents[2] / "cluster" / "topology.yaml"


def test_pareto_front_keeps_only_points_nothing_beats() -> None:
    pts = [("a", 0.006, 0.943), ("b", 0.0077, 0.9835), ("c", 0.0078, 0.9982), ("d", 0.035, 0.9979),
           ("e", 0.037, 0.9987), ("f", 0.041, 0.9987), ("g", 0.2, 0.0003)]
    assert [p[0] for p in pareto_front(pts)] == ["a", "b", "c", "e"]


def test_plot_points_name_the_oracle_bound_and_replay_and_leave_out_skipped() -> None:
    fig = {"energy_j_per_request": 0.1, "slo_attainment": 0.9}
    results = {"p": fig, "s": {"skipped": "why"}, "oracle": {**fig, "slo_attainment": 0.99, "replayed": fig}}
    assert plot_points(results) == [("p", 0.1, 0.9), ("oracle (bound)", 0.1, 0.99), ("oracle (replayed)", 0.1, 0.9)]


def test_battery_band_is_min_median_max_of_the_interpolated_curves() -> None:
    battery = [{"satellite": s, "t_s": t, "soc_j": j} for s, pts in
               {"a": [(0, 100.0), (10, 80.0)], "b": [(0, 100.0), (10, 100.0)], "c": [(0, 90.0), (10, 60.0)]}.items()
               for t, j in pts]
    band = battery_band(battery, np.array([0.0, 5.0, 10.0]))
    assert band["min"].tolist() == [90.0, 75.0, 60.0]
    assert band["median"].tolist() == [100.0, 90.0, 80.0]
    assert band["max"].tolist() == [100.0, 100.0, 100.0]


def test_in_view_and_counts_with_eclipses() -> None:
    doc = {"windows": [{"satellite": "a", "start_s": 0.0, "end_s": 10.0}, {"satellite": "b", "start_s": 5.0,
                                                                              "end_s": 20.0}],
           "eclipses": [{"satellite": "b", "start_s": 8.0, "end_s": 30.0}]}
    assert in_view(doc["windows"], 5.0) == ["a", "b"] and in_view(doc["windows"], 10.0) == ["b"]
    seen, dark = in_view_counts(doc, np.array([0.0, 6.0, 9.0, 15.0, 25.0]))
    assert seen.tolist() == [1, 2, 2, 1, 0] and dark.tolist() == [0, 0, 1, 1, 0]


@pytest.mark.skipif(not TOPOLOGY.exists(), reason="cluster/topology.yaml not present")
def test_route_explain_defaults_to_the_clocks_now_and_takes_at(monkeypatch) -> None:
    import maas.cli.when as when
    from maas.cli.route import app

    now = dt.datetime(2027, 3, 4, 5, 6, 7, tzinfo=dt.UTC).timestamp()
    monkeypatch.setattr(when, "clock", lambda: ManualClock(now))
    base = ["explain", "--model", "m", "--host-ms", "0.1", "--topology", str(TOPOLOGY), "-o", "json"]
    result = CliRunner().invoke(app, base)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["at"] == "2027-03-04T05:06:07Z"
    result = CliRunner().invoke(app, [*base, "--at", "2026-11-21T09:00:00Z"])
    assert json.loads(result.stdout)["at"] == "2026-11-21T09:00:00Z"


@pytest.mark.skipif(not TOPOLOGY.exists(), reason="cluster/topology.yaml not present")
def test_route_explain_table_fits_80_columns(monkeypatch) -> None:
    from maas.cli.route import app

    monkeypatch.setenv("COLUMNS", "80")
    result = CliRunner().invoke(app, ["explain", "--model", "m", "--host-ms", "0.1", "--topology", str(TOPOLOGY),
                                      "--at", "2026-11-21T09:00:00Z"])
    assert result.exit_code == 0, result.output
    assert max(len(line) for line in result.stdout.splitlines()) <= 80
    assert "J/req" in result.stdout and "satellite" in result.stdout and "…" not in result.stdout
    assert result.stdout.splitlines()[-1].startswith("decision: ")


@pytest.mark.skipif(not TOPOLOGY.exists(), reason="cluster/topology.yaml not present")
@pytest.mark.parametrize("width", [80, 200])
def test_tiers_show_fits_and_names_every_parameter_whole(monkeypatch, width: int) -> None:
    from maas.cli.tiers import app

    monkeypatch.setenv("COLUMNS", str(width))
    table = CliRunner().invoke(app, ["show", "--topology", str(TOPOLOGY)])
    doc = json.loads(CliRunner().invoke(app, ["show", "--topology", str(TOPOLOGY), "-o", "json"]).stdout)
    assert table.exit_code == 0, table.output
    assert max(len(line) for line in table.stdout.splitlines()) <= width
    names = {line.split()[0] for line in table.stdout.splitlines() if line.strip()}
    for tier in doc["tiers"]:
        assert {p["name"] for p in tier["parameters"]} <= names
    for site in doc["sites"][:10]:
        assert site["name"] in names
