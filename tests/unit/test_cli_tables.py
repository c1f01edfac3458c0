"""``maas.tables``: every CLI table at 80 and 200 columns: no cell cut, every name whole, no line wider than asked."""

from __future__ import annotations

import csv
import io
import json

import pytest

from maas.tables import Col, View, attainment, fit, num, pct, render, scaled, text, to_text

POLICIES = ["edge-aware", "single-tier-optical-access", "greedy-energy", "oracle (bound)", "oracle (replayed)"]


def _figures(i: int) -> dict:
    return {"slo_attainment": [0.9982, 0.17478, 0.9835, 0.99974, 0.99742][i],
            "goodput_rps": [1936.0, 339.0, 1907.5, 1939.0, 1934.5][i],
            "p50_ms": [16.995, 107.2, 18.249, 14.618, 17.836][i], "p95_ms": 27.0,
            "p99_ms": [35.341, 153.1, 36.209, 34.316, 34.691][i],
            "energy_j_per_request": [0.007763, 0.0213, 0.007656, 0.007684, 0.007684][i],
            "energy_j_per_success": [0.007777, 0.122, 0.007784, 0.007686, 0.007704][i],
            "carbon_g_per_request": [1.01e-06, 2.77e-06, 1e-06, 1e-06, 1e-06][i],
            "tier_share": {"base-station": 0.7726, "optical-access": 0.0807, "ground": 0.1467},
            "min_battery_soc": None, "dropped": [0, 2193, 0, 1, 1][i], "decision_us_p99": [29.888, 1.7, 9.9, None, 1.3][i]}


def sim_results() -> dict:
    out = {name: _figures(i) for i, name in enumerate(POLICIES[:3])}
    out["oracle"] = {**_figures(3), "status": "optimal", "replayed": _figures(4)}
    out["nearest"] = {"skipped": "needs a tier the topology does not have"}
    return out


def route_result() -> dict:
    tiers = {t: {"available": True, "reason": None, "host_ms": 1.0, "uplink_ms": 1.06, "downlink_ms": 0.5,
                 "compute_ms": 2.0, "network_p99_ms": 4.48, "energy_j": 0.0086, "carbon_g": 1.05e-6}
             for t in ("optical-access", "ground", "base-station", "satellite")}
    return {"site": "riyadh-sme-1", "at": "2026-11-21T09:00:00Z", "ranking": list(tiers), "tiers": tiers,
            "expected_ms": {"optical-access": 3.59, "ground": 10.1, "base-station": 12.6},
            "reasons": {"satellite": "no satellite in view of riyadh-sme-1 until 2026-11-21T09:04:10Z"},
            "feasible": True, "would_503": False}


def run_summary() -> dict:
    ms = {"p50": 5.2, "p90": 6.1, "p99": 9.87, "p999": 14.2, "max": 20.0}
    group = {"requests": 600, "share": 0.5, "errors": 0, "latency_ms": ms, "slo_attainment": 0.998,
             "energy_j_per_request": 0.0123}
    checks = [{"name": "dispatch_lateness_p99", "ok": True, "value": 0.31,
               "bound": "<= 5 ms (the generator kept its schedule; a late generator hides server latency)"},
              {"name": "p99<50ms", "ok": False, "value": 61.2, "bound": "< 50 ms"}]
    return {"mode": "open-loop", "latency_ms": ms, "service_ms": ms, "lateness_ms": ms,
            "per_tier": {"optical-access-long-tier-name": group, "ground": group},
            "per_model": {"maintenance-clf": group}, "checks": checks, "thresholds": []}


def all_views() -> dict[str, View]:
    from maas.cli.route import explain_view
    from maas.cli.sim import sim_view
    from maas.loadtest.console import compare_view, views_of_run

    cmp = {"confidence": 0.95, "warnings": [], "rows": [
        {"metric": "latency p99 ms", "a": 9.87, "b": 12.1, "diff": 2.23, "ci_low": 1.1, "ci_high": 3.4,
         "significant": True, "method": "bootstrap (2000 resamples)"},
        {"metric": "achieved rate rps", "a": 99.9, "b": 100.1, "diff": 0.2, "ci_low": None, "ci_high": None,
         "significant": False, "method": "analytic"}]}
    views = {"sim": sim_view(sim_results(), "default-city"),
             "route explain": explain_view(route_result(), "resnet18", "edge-aware", "latency"),
             "loadtest compare": compare_view(cmp)}
    views.update({f"loadtest run {v.title}": v for v in views_of_run(run_summary())})
    return views


def _names(view: View) -> list[str]:
    """The text of every left-aligned column of priority 0 (names: policy, tier, metric, check...)."""
    return [c.fmt(c.value(r)) for c in view.columns if c.left and c.priority == 0 and not c.wrap for r in view.rows]


@pytest.mark.parametrize("terminal", [False, True], ids=["plain", "rich"])
@pytest.mark.parametrize("width", [80, 200])
@pytest.mark.parametrize("name", list(all_views()))
def test_every_table_fits_and_cuts_nothing(name: str, width: int, terminal: bool) -> None:
    view = all_views()[name]
    out = to_text(view, width, terminal=terminal)
    lines = out.splitlines()
    assert max(len(line) for line in lines) <= width, out
    assert "…" not in out and "..." not in out
    shown = fit(view, width)
    for c in shown:
        if c.wrap:  # prose: every word present, in order, none cut
            for r in view.rows:
                assert all(w in out for w in c.fmt(c.value(r)).split())
            continue
        for r in view.rows:  # every shown cell appears whole on some line
            cell = c.fmt(c.value(r))
            assert any(cell in line for line in lines), (c.header, cell)
    for n in _names(view):
        assert n in out


def test_sim_table_at_80_keeps_the_figures_that_matter_and_drops_the_rest() -> None:
    from maas.cli.sim import sim_view

    view = sim_view(sim_results(), "default-city")
    out = to_text(view, 80)
    header = out.splitlines()[1] + out.splitlines()[2]
    for must in ("policy", "SLO", "energy", "J/req", "mg CO2/req", "p99"):
        assert must in header
    assert "single-tier-optical-access" in out and "oracle (replayed)" in out
    assert "99.974" in out and "0.00776" in out and "0.00101" in out  # 3 figures, mg for carbon
    assert "decision" not in out  # the lowest priority column does not fit at 80
    wide = to_text(view, 80, wide=True)
    assert "decision" in wide and "top tier" in wide and "base-station 77%" in wide
    assert "nearest skipped: needs a tier the topology does not have" in out


def test_columns_are_kept_by_priority_then_position() -> None:
    rows = [{"a": "x" * 10, "b": "y" * 10, "c": "z" * 10, "d": "w" * 10}]
    view = View(None, [Col("a", fmt=text), Col("b", fmt=text, priority=2), Col("c", fmt=text, priority=1),
                       Col("d", fmt=text, priority=1)], rows)
    assert [c.header for c in fit(view, 10)] == ["a"]
    assert [c.header for c in fit(view, 22)] == ["a", "c"]  # 10 + 2 + 10: c before d (same priority, left first)
    assert [c.header for c in fit(view, 34)] == ["a", "c", "d"]  # b has the highest priority number: last in
    assert [c.header for c in fit(view, 46)] == ["a", "b", "c", "d"]


def test_wrapped_column_takes_what_is_left_and_keeps_every_word() -> None:
    source = "lognormal median 8-12 ms (5G SA), fit to Rischke et al., IEEE Access 2021 and R&S 2022 [D]"
    view = View("t", [Col("parameter", fmt=text, left=True), Col("source", fmt=text, left=True, wrap=True)],
                [{"parameter": "network.transmission_j_per_bit", "source": source}])
    out = to_text(view, 60)
    assert max(len(line) for line in out.splitlines()) <= 60
    assert "network.transmission_j_per_bit" in out
    assert " ".join(out.split()).count("Rischke et al., IEEE Access 2021") == 1
    assert len(out.splitlines()) > 4  # wrapped over several lines


@pytest.mark.parametrize(("value", "shown"), [
    (0.007763, "0.00776"), (0.0351, "0.0351"), (35.341, "35.3"), (150.253, "150"), (1936.0, "1936"),
    (18089.4, "18089"), (0.5, "0.500"), (0.0, "0"), (2193, "2193"), (None, "-"), (1.01e-06, "1.01e-06"),
    (-0.0213, "-0.0213"), (0.9996, "1.00"),
])
def test_num_three_significant_figures(value, shown) -> None:
    assert num(value) == shown


@pytest.mark.parametrize(("value", "shown"), [
    (0.9982, "99.82"), (0.99974, "99.974"), (0.73885, "73.89"), (1.0, "100"), (0.0, "0.00"), (0.99999, "99.9990"),
])
def test_attainment_shows_the_miss(value, shown) -> None:
    assert attainment(value) == shown


def test_scaled_and_pct() -> None:
    assert scaled(1e3)(1.01e-06) == "0.00101" and pct(0.3789) == "37.9" and scaled(1e3)(None) == "-"


def test_json_and_csv_carry_raw_values_with_units_in_keys() -> None:
    view = View("t", [Col("policy", fmt=text), Col("energy", "e", unit="J/req")], [{"policy": "p", "e": 0.00776312}])
    buf = io.StringIO()
    render(view, "json", file=buf)
    assert json.loads(buf.getvalue()) == [{"policy": "p", "energy (J/req)": 0.00776312}]
    buf = io.StringIO()
    render(view, "csv", file=buf)
    assert list(csv.reader(io.StringIO(buf.getvalue()))) == [["policy", "energy (J/req)"], ["p", "0.00776312"]]


def test_not_a_terminal_prints_plain_text_at_the_columns_env(monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "40")
    rows = [{"name": f"name-{i}", "a": 1.0, "b": 2.0, "c": 3.0} for i in range(3)]
    view = View(None, [Col("name", fmt=text, left=True), *(Col(k * 12, k, priority=1) for k in "abc")], rows)
    buf = io.StringIO()  # not a tty
    render(view, file=buf)
    out = buf.getvalue()
    assert "\x1b[" not in out and "─" not in out  # no colour, no box drawing
    assert max(len(line) for line in out.splitlines()) <= 40
    assert "aaaaaaaaaaaa" in out and "cccccccccccc" not in out


def test_square_brackets_in_a_cell_are_text_not_markup_on_a_terminal() -> None:
    from maas.tables import Col, View, to_text

    view = View(None, [Col("label", left=True, fmt=str)], [{"label": "[text, ...] and [bold]x[/bold]"}])
    out = to_text(view, 80, terminal=True)
    assert "[text, ...] and [bold]x[/bold]" in out
