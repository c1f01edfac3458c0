"""Sim-to-real with batching (issue 13): priming bursts for every pair the scenario's topology batches, the batch
profile measured from the gateway's responses, and the simulated side running the same batchers."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from maas.errors import ConfigError
from maas.sim.scenario import load_scenario
from maas.simlive.batching import (
    batch_models,
    batch_priming_rows,
    batching_limits,
    batching_report,
    measured_batch_profile,
)
from maas.simlive.live import LiveInputs, measured_host_ms, simulate_for_live
from maas.simlive.replay import LiveRun, RequestOutcome
from maas.tiers import load_topology

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = ROOT / "cluster" / "scenarios" / "sim-to-real-batching.yaml"
EPOCH_S = datetime(2026, 11, 21, 9, 30, 7, tzinfo=timezone.utc).timestamp()
HOST = {"minilm-embed": {"fp32": 9.0, "int8": 7.0}, "digits-mlp": {"fp32": 0.01}, "maintenance-clf": {"fp32": 0.01}}


def test_the_batching_variant_batches_every_tier_with_the_encoder_waiting_longer():
    limits = batching_limits(load_topology(ROOT / "cluster" / "topology-batching.yaml"), ["minilm-embed", "digits-mlp"])
    assert set(limits["minilm-embed"]) == {"base-station", "optical-access", "ground", "satellite"}
    assert limits["minilm-embed"]["ground"] == (8, 8.0) and limits["digits-mlp"]["ground"] == (8, 2.0)
    assert batching_limits(load_topology(ROOT / "cluster" / "topology.yaml"), ["minilm-embed"]) == {}


def test_priming_bursts_reach_every_batch_size_of_every_pair():
    rows = batch_priming_rows({"m": {"edge": (8, 2.0)}, "n": {"dc": (3, 1.0)}}, ["s1", "s2"], repeats=2, gap_s=0.1,
                              start_s=5.0)
    bursts: dict[tuple, int] = {}
    for r in rows:
        bursts[(r["model"], r["tier"], r["t_s"])] = bursts.get((r["model"], r["tier"], r["t_s"]), 0) + 1
    assert list(bursts.values()) == [2, 4, 8, 2, 4, 8, 2, 3, 2, 3]
    assert rows[0]["t_s"] == 5.0 and all(r["tenant"] == "priming" for r in rows)
    assert {r["site"] for r in rows} == {"s1", "s2"}


def _outcome(i: int, tier: str, host: float, n: int | None = None, batch_host: float | None = None):
    return RequestOutcome(i, 200, 1.0, 0.0, None, tier, host_ms=host, batch_size=n, batch_host_ms=batch_host)


def test_the_profile_is_the_median_batch_host_time_per_size_and_host_times_are_of_requests_alone():
    rows = [{"model": "a"}] * 5
    outs = [_outcome(0, "dc", 2.0, 1, 2.0), _outcome(1, "dc", 1.5, 2, 3.0), _outcome(2, "dc", 1.6, 2, 3.2),
            _outcome(3, "dc", 2.2, 1, 2.2), _outcome(4, "edge", 1.0)]
    run = LiveRun(0.0, outs)
    assert measured_batch_profile((rows, run)) == {"a": {"dc": {1: 2.1, 2: 3.1}}}
    assert measured_host_ms((rows, run)) == {"a": {"dc": 2.1, "edge": 1.0}}  # batch shares left out
    limits = {"a": {"dc": (4, 2.0), "edge": (4, 2.0)}}
    got = batch_models(limits, measured_batch_profile((rows, run)), ["x", "a"], "f.yaml")
    assert list(got) == [(1, "dc")]  # edge was asked to batch but did not (no batch size reported): unbatched
    assert got[(1, "dc")].ratio(2) == pytest.approx(3.1 / 2.1)
    with pytest.raises(ConfigError, match="batches a on dc"):
        batch_models({}, {"a": {"dc": {1: 2.0}}}, ["a"], "f.yaml")


def test_the_simulated_side_runs_the_batchers_that_ran_live():
    spec = load_scenario(SCENARIO)
    profile = {"minilm-embed": {"base-station": {1: 5.0, 2: 6.0, 4: 8.0, 8: 12.0}, "ground": {1: 9.0, 2: 11.0}}}
    live_in = LiveInputs(2.0, 3.0, batch_profile_ms=profile)
    prep, fig, record = simulate_for_live(spec, str(SCENARIO), epoch_s=EPOCH_S, platform_ms=2.0, host_ms=HOST,
                                          duration_s=10.0, live_inputs=live_in)
    inp = prep.inp
    m = inp.models.index("minilm-embed")
    assert set(inp.batching) == {(m, "base-station"), (m, "ground")}
    assert inp.batching[(m, "base-station")].max_queue_delay_ms == 8.0
    assert inp.batching[(m, "base-station")].ratio(8) == pytest.approx(12.0 / 5.0)
    assert record.batch_sizes and sum(record.batch_sizes) == sum(
        1 for i in range(len(inp.trace)) if record.tier[i] >= 0 and inp.trace.model[i] == m
        and inp.tiers[record.tier[i]] in ("base-station", "ground"))
    report = batching_report({}, profile, LiveRun(0.0, [_outcome(0, "ground", 1.0, 2, 2.0)]), record)
    assert report["requests_by_batch_size"]["live"] == {2: 1}
    assert sum(report["requests_by_batch_size"]["sim"].values()) == sum(record.batch_sizes)
    assert 0.0 <= fig["slo_attainment"] <= 1.0


def test_the_report_prints_the_batch_sizes_of_both_sides(capsys):
    from maas.cli.sim_live import render_report
    from maas.simlive.compare import compare

    sim = {"slo_attainment": 0.95, "tier_share": {"edge": 1.0}, "p50_ms": 10.0, "p99_ms": 30.0}
    live = dict(sim, answered=10, requests=10, platform_slo_attainment=0.95)
    report = {"scenario": "s", "requests": 10, "policy": "edge-aware", "epoch": "e", "same_trace": True,
              "calibration": {"platform_ms": 2.0, "ingress_ms": 3.0}, "sim": sim, "live": live,
              "comparison": compare(sim, live), "batching": {"limits": {}, "profile_ms": {"m": {"edge": {1: 1.0}}},
                                                               "requests_by_batch_size": {"live": {1: 8, 2: 2},
                                                                                          "sim": {1: 10}}}}
    render_report(report)
    assert "batching: requests per batch size live {1: 8, 2: 2}, sim {1: 10}" in capsys.readouterr().out
