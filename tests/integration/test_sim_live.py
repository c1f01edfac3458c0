"""Sim-to-real on the real platform (the package's one Ray Serve instance): a short replay of the scenario's trace
where every request is answered, tiers are the topology's, counts add up to the trace, and the simulator runs the
same trace from the live start. The 3/5-point agreement itself is a benchmark (bench/bench_sim_to_real.py)."""

from __future__ import annotations

from pathlib import Path

from maas.sim.runner import prepare
from maas.sim.scenario import load_scenario
from maas.simlive.live import (
    calibrate_overhead_ms,
    live_figures,
    manifest_host_ms,
    replay,
    simulate_for_live,
    trace_rows,
)

SCENARIO = Path(__file__).resolve().parents[2] / "cluster" / "scenarios" / "sim-to-real.yaml"
DURATION_S = 6.0


def test_short_live_replay_and_its_simulation(platform, base_url, auth_headers):
    settings, _placements, topology = platform
    spec = load_scenario(SCENARIO)
    measured = prepare(spec, str(SCENARIO), policies=["edge-aware"], duration_s=DURATION_S)
    rows = trace_rows(measured)
    assert len(rows) > 60

    live = replay(base_url, rows, seed=1, headers=auth_headers)

    assert [o.index for o in live.outcomes] == list(range(len(rows)))
    for row, o in zip(rows, live.outcomes, strict=True):
        if row["strict"]:  # a strict deadline no tier can meet is answered 503, by design
            assert o.status in (200, 503), (row, o)
        else:
            assert o.ok, (row, o)
        if o.ok:
            assert o.tier in topology.tier_names and o.policy == "edge-aware"
            assert o.parts_ms is not None and o.latency_ms > 0
            gateway_ms = sum(o.parts_ms.values())  # the platform's own latency: its reported parts
            if abs(gateway_ms - row["deadline_ms"]) > 0.01:  # (parts are rounded to 1 us)
                assert o.deadline_met is (gateway_ms <= row["deadline_ms"])
    fig = live_figures(live, list(topology.tier_names))
    assert sum(fig["tier_counts"].values()) + fig["errors"] == len(rows) and fig["unknown_tiers"] == {}
    assert fig["answered"] == sum(fig["tier_counts"].values())
    assert abs(sum(fig["tier_share"].values()) - 1.0) < 1e-3

    platform_ms, ingress_ms = calibrate_overhead_ms(live)
    assert 0.0 <= platform_ms < 1000.0 and 0.0 <= ingress_ms < 1000.0
    host_ms = manifest_host_ms(settings.models_dir, list(spec.models))
    sim_prep, sim_fig, _ = simulate_for_live(spec, str(SCENARIO), epoch_s=live.start_s, platform_ms=platform_ms,
                                             ingress_ms=ingress_ms, host_ms=host_ms, duration_s=DURATION_S)
    assert trace_rows(sim_prep) == rows  # the simulator ran the same trace ...
    assert abs(sim_prep.inp.epoch_s - live.start_s) < 1e-5  # ... from the live start
    assert set(sim_fig["tier_share"]) == set(topology.tier_names) and 0.0 <= sim_fig["slo_attainment"] <= 1.0


def test_the_whole_check_runs_the_live_experiment_and_explains(platform, base_url, auth_headers):
    """``check`` end to end, short: the simulated side takes the live world seed, host times and request sizes,
    and with ``explain`` every request routed differently is listed with both sides' decisions."""
    from maas.simlive.live import check

    settings, _placements, topology = platform
    spec = load_scenario(SCENARIO)
    host_ms = manifest_host_ms(settings.models_dir, list(spec.models))
    report = check(base_url, spec, str(SCENARIO), host_ms=host_ms, warmup_s=3.0, prime_per_pair=2,
                   duration_s=DURATION_S, explain=3, headers=auth_headers)
    cal = report["calibration"]
    assert report["same_trace"] and cal["world_seed"] == settings.seed
    assert {(m, t) for m, by in cal["host_ms_measured"].items() for t in by} == {
        (m, t) for m in spec.models for t in topology.tier_names}  # every primed pair measured
    assert all(v > 0 for by in cal["host_ms_measured"].values() for v in by.values())
    assert set(report["host_ms_during_run"]) <= set(spec.models) and report["host_ms_during_run"]
    assert set(cal["io_bytes"]) == set(spec.models) and all(a > 0 and b > 0 for a, b in cal["io_bytes"].values())
    answered = report["live"]["answered"]
    moved = report["decisions"]
    assert 0 < moved["answered_both"] <= answered and moved["routed_differently"] == sum(
        moved["moves_live_to_sim"].values())
    assert len(report["divergences"]) == min(3, moved["routed_differently"])
    for d in report["divergences"]:
        assert d["live"]["tier"] != d["sim"]["tier"]
        for side in ("live", "sim"):  # both decisions, from the gateway's response and the engine
            assert set(d[side]["tiers"]) == set(topology.tier_names) and d[side]["ranking"]
    models = report["overhead_models"]
    assert models["used"] == "full-tail" and set(models) == {"used", "gateway-tail", "median"}
    assert all(0.0 <= models[m]["slo_attainment"] <= 1.0 for m in ("gateway-tail", "median"))
