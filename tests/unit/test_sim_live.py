"""Sim-to-real pieces without a platform: trace conversion (every request keeps its time, site, model and hints,
also through the harness's own trace reader), the per-request collector on the harness's open-loop engine with
a fake transport and a virtual clock, live figures and overhead calibration, compare() maths, bad input."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from maas.cli.sim_live import app
from maas.clock import ManualClock
from maas.errors import ConfigError, InvalidInput
from maas.loadtest.engine import run_open_loop
from maas.loadtest.mix import prepare_mix
from maas.loadtest.recorder import Outcome, Recorder
from maas.loadtest.trace import load_trace
from maas.sim.runner import prepare
from maas.sim.scenario import load_scenario
from maas.simlive.live import (
    calibrate_overhead_ms,
    compare,
    live_figures,
    manifest_host_ms,
    priming_rows,
    simulate_for_live,
)
from maas.simlive.replay import (
    LiveRun,
    RequestOutcome,
    _Collector,
    replay_schedule,
    trace_rows,
    write_trace_jsonl,
)

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = ROOT / "cluster" / "scenarios" / "sim-to-real.yaml"
# A fixed live start (not the wall clock): satellite windows and the simulated figures depend on it.
LIVE_START_S = datetime(2026, 11, 21, 9, 30, 7, 250000, tzinfo=timezone.utc).timestamp()
TABLE = {
    "name": "tiny-live",
    "table_tiers": [
        {"name": "edge", "kind": "base-station", "uplink_ms": 2, "downlink_ms": 2, "slots": 2},
        {"name": "dc", "kind": "ground", "uplink_ms": 8, "downlink_ms": 8, "slots": 4},
    ],
    "sites": ["a", "b", "c"],
    "duration_s": 4,
    "seed": 3,
    "models": {"digits-mlp": {"host_compute_ms": 0.1}, "maintenance-clf": {"host_compute_ms": 0.2}},
    "workload": {"kind": "poisson", "rate_rps": 30},
    "tenants": [
        {"name": "iot", "share": 2, "deadline_ms": 25, "objective": "latency", "strict": True,
         "models": {"maintenance-clf": 1}},
        {"name": "shop", "share": 1, "objective": "energy", "models": {"digits-mlp": 1, "maintenance-clf": 1}},
    ],
    "policies": ["edge-aware"],
}


@pytest.fixture
def prep(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(TABLE))
    return prepare(load_scenario(path), str(path))


def test_trace_rows_keep_every_request(prep):
    rows = trace_rows(prep)
    tr, inp = prep.inp.trace, prep.inp
    assert len(rows) == len(tr) > 60
    tenants = {t["name"]: t for t in TABLE["tenants"]}
    for i, row in enumerate(rows):
        assert row["t_s"] == tr.t_s[i]
        assert row["site"] == inp.sites[tr.site[i]] and row["model"] == inp.models[tr.model[i]]
        t = tenants[row["tenant"]]
        assert row["tenant"] == inp.tenant_names[tr.tenant[i]]
        assert row["objective"] == t["objective"] and row["strict"] == t.get("strict", False)
        assert row.get("deadline_ms") == t.get("deadline_ms")
    assert {r["tenant"] for r in rows} == {"iot", "shop"} and {r["site"] for r in rows} == {"a", "b", "c"}


def test_schedule_and_payloads_carry_each_request(prep):
    rows = trace_rows(prep)
    schedule, mix, kind_of = replay_schedule(rows, variants=3, seed=5)
    np.testing.assert_array_equal(schedule.offsets_s, prep.inp.trace.t_s)
    np.testing.assert_array_equal(schedule.entry, np.arange(len(rows)))
    assert schedule.variant.min() >= 0 and schedule.variant.max() < 3
    prepared = prepare_mix(mix, 1, 3)
    for row, k in zip(rows, kind_of, strict=True):
        entry = mix.entries[k]
        assert (entry.model, entry.tenant, entry.site) == (row["model"], row["tenant"], row["site"])
        for body in prepared[k].bodies:  # what goes on the wire: the row's hints as V2 parameters
            doc = json.loads(body)
            assert doc["parameters"] == {key: row[key] for key in ("deadline_ms", "objective", "site", "strict")
                                         if key in row}
            assert prepared[k].path == f"/v2/models/{row['model']}/infer"


def test_trace_file_reads_back_through_the_harness(prep, tmp_path):
    rows = trace_rows(prep)
    path = tmp_path / "trace.jsonl"
    write_trace_jsonl(rows, path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.yaml", "trace.jsonl"]  # no temp file left
    schedule, mix = load_trace(path)
    np.testing.assert_allclose(schedule.offsets_s, [r["t_s"] for r in rows])
    for i, row in enumerate(rows):
        entry = mix.entries[schedule.entry[i]]
        assert (entry.model, entry.site, entry.tenant, entry.objective, entry.strict, entry.deadline_ms) == (
            row["model"], row["site"], row["tenant"], row["objective"], row["strict"], row.get("deadline_ms"))


@pytest.mark.parametrize("rows, match", [
    ([], "no requests"),
    ([{"t_s": 1.0, "model": "m"}, {"t_s": 0.5, "model": "m"}], "sorted"),
    ([{"t_s": -1.0, "model": "m"}], "t_s >= 0"),
    ([{"model": "m"}], "t_s >= 0"),
    ([{"t_s": 0.0, "model": "m", "objective": "fastest"}], "row 0: objective"),
])
def test_bad_trace_rows(rows, match):
    with pytest.raises(InvalidInput, match=match):
        replay_schedule(rows)


class _FakeTransport:
    """Answers each request after ``service_s`` of virtual time with the tier named in its body's site."""

    def __init__(self, clock: ManualClock, service_s: float) -> None:
        self.clock, self.service_s = clock, service_s

    async def send(self, entry, body: bytes) -> Outcome:
        await self.clock.sleep_s(self.service_s)
        site = json.loads(body)["parameters"]["site"]
        if site == "c":
            return Outcome(503, None, 0, "HTTP 503: no tier")
        parts = {"uplink_ms": 1.0, "queue_ms": 0.0, "compute_ms": 2.0, "downlink_ms": 1.0, "platform_ms": 3.0}
        return Outcome(200, {"tier": "edge" if site == "a" else "dc", "policy": "edge-aware", "deadline_met": True,
                             **parts}, 10)


def test_collector_keeps_each_outcome_with_its_request(prep):
    rows = trace_rows(prep)
    schedule, mix, kind_of = replay_schedule(rows)
    kinds = prepare_mix(mix, 1, 4)
    entries = [dataclasses.replace(kinds[k], index=i) for i, k in enumerate(kind_of)]
    clock = ManualClock(1000.0)
    collector = _Collector(_FakeTransport(clock, 0.012), schedule.offsets_s.tolist(),
                           [r.get("deadline_ms") for r in rows], clock)
    collector.start_s = 1000.0
    asyncio.run(run_open_loop(schedule, entries, collector, Recorder(), clock, 1000.0, pacer="loop"))
    assert sorted(collector.outcomes) == list(range(len(rows)))
    for i, row in enumerate(rows):
        o = collector.outcomes[i]
        assert o.index == i and o.deadline_ms == row.get("deadline_ms")
        if row["site"] == "c":
            assert o.status == 503 and o.tier is None
        else:
            assert o.ok and o.tier == ("edge" if row["site"] == "a" else "dc") and o.policy == "edge-aware"
            assert o.parts_ms["platform_ms"] == 3.0
        assert o.latency_ms >= 12.0 - 1e-6 and o.lateness_ms >= -1e-6  # from the intended send, never before it


def _run(*outs: tuple) -> LiveRun:
    parts = {"uplink_ms": 2.0, "queue_ms": 1.0, "compute_ms": 3.0, "downlink_ms": 2.0}
    return LiveRun(0.0, [RequestOutcome(i, st, lat, 0.1, dl, tier, None, "edge-aware",
                                        None if gw is None else {**parts, "platform_ms": gw})
                         for i, (st, lat, dl, tier, gw) in enumerate(outs)])


def test_live_figures_and_calibration():
    live = _run((200, 10.0, 20.0, "edge", 1.0), (200, 30.0, 20.0, "dc", 3.0), (200, 14.0, None, "edge", 2.0),
                (503, 1.0, 20.0, None, None))
    fig = live_figures(live, ["edge", "dc", "satellite"])
    assert fig["slo_attainment"] == 0.5  # one late, one error: 2 of 4 (no deadline counts as met)
    assert fig["tier_share"] == {"edge": round(2 / 3, 4), "dc": round(1 / 3, 4), "satellite": 0.0}
    assert fig["tier_counts"] == {"edge": 2, "dc": 1, "satellite": 0} and fig["errors"] == 1
    assert fig["unknown_tiers"] == {} and fig["policy"] == "edge-aware"
    # overheads: gateway part median of 1, 3, 2; ingress = latency - all parts: 10-9, 30-11, 14-10 -> median 4
    assert calibrate_overhead_ms(live) == (2.0, 4.0)
    with pytest.raises(InvalidInput, match="no answered request"):
        calibrate_overhead_ms(_run((503, 1.0, 20.0, None, None)))


def test_compare_maths():
    sim = {"slo_attainment": 0.95, "tier_share": {"edge": 0.6, "dc": 0.4, "sat": 0.0}}
    live = {"slo_attainment": 0.93, "tier_share": {"edge": 0.56, "dc": 0.44}}
    c = compare(sim, live)
    assert c["slo_attainment"]["diff_points"] == 2.0 and c["slo_attainment"]["within"]
    assert c["tier_share"]["edge"]["diff_points"] == 4.0 and c["tier_share"]["sat"] == {
        "sim": 0.0, "live": 0.0, "diff_points": 0.0}
    assert c["max_tier_share_diff_points"] == 4.0 and c["passed"]
    c = compare(sim, {"slo_attainment": 0.9, "tier_share": {"edge": 0.6, "dc": 0.4}})
    assert c["slo_attainment"]["diff_points"] == 5.0 and not c["slo_attainment"]["within"] and not c["passed"]
    c = compare(sim, {"slo_attainment": 0.95, "tier_share": {"edge": 0.5, "dc": 0.3, "sat": 0.2}})
    assert c["max_tier_share_diff_points"] == 20.0 and not c["tier_share_within"] and not c["passed"]
    assert compare(sim, live, share_points=3.9)["passed"] is False  # targets are parameters
    assert compare(sim, {"slo_attainment": 0.98, "tier_share": {"edge": 0.65, "dc": 0.35}})["passed"]  # 3 & 5: in


@pytest.mark.parametrize("sim, live", [
    ({"tier_share": {"a": 1.0}}, {"slo_attainment": 1.0, "tier_share": {"a": 1.0}}),
    ({"slo_attainment": 1.2, "tier_share": {"a": 1.0}}, {"slo_attainment": 1.0, "tier_share": {"a": 1.0}}),
    ({"slo_attainment": True, "tier_share": {"a": 1.0}}, {"slo_attainment": 1.0, "tier_share": {"a": 1.0}}),
    ({"slo_attainment": 1.0, "tier_share": {}}, {"slo_attainment": 1.0, "tier_share": {"a": 1.0}}),
    ({"slo_attainment": 1.0, "tier_share": {"a": -0.1}}, {"slo_attainment": 1.0, "tier_share": {"a": 1.0}}),
    ({"slo_attainment": 1.0, "tier_share": {"a": 1.0}}, "not a dict"),
])
def test_compare_bad_input(sim, live):
    with pytest.raises(InvalidInput):
        compare(sim, live)


def test_simulate_for_live_same_trace_epoch_and_variant_hosts():
    spec = load_scenario(SCENARIO)
    host = {"minilm-embed": {"fp32": 9.0, "int8": 7.0}, "digits-mlp": {"fp32": 0.01, "int8": 0.01},
            "maintenance-clf": {"fp32": 0.01}}  # same fp32 time twice, int8 missing: fallbacks
    measured = prepare(spec, str(SCENARIO), policies=["edge-aware"], duration_s=3.0)
    epoch = LIVE_START_S
    prep, fig, record = simulate_for_live(spec, str(SCENARIO), epoch_s=epoch, platform_ms=2.0, ingress_ms=3.0,
                                          host_ms=host, duration_s=3.0)
    assert trace_rows(prep) == trace_rows(measured)
    assert prep.inp.epoch_s == pytest.approx(epoch, abs=1e-5) and prep.inp.platform_ms == 2.0
    plain, _, plain_record = simulate_for_live(spec, str(SCENARIO), epoch_s=epoch, platform_ms=2.0, host_ms=host,
                                               duration_s=3.0)
    # ingress is the client's only: the true links are the same, every latency the client sees is 3 ms longer,
    # and the router (which never observes it) routes every request as it does without it
    np.testing.assert_array_equal(prep.inp.link_ms, plain.inp.link_ms)
    assert plain.inp.client_ms is None and np.array_equal(prep.inp.client_ms, np.full(len(prep.inp.trace), 3.0))
    np.testing.assert_array_equal(record.tier, plain_record.tier)
    done = np.isfinite(plain_record.latency_ms)
    assert done.any()
    np.testing.assert_allclose(record.latency_ms[done], plain_record.latency_ms[done] + 3.0)
    minilm = prep.inp.models.index("minilm-embed")
    clf = prep.inp.models.index("maintenance-clf")
    assert prep.inp.host_ms_on(minilm, "base-station") == 7.0  # int8 on the base station
    assert prep.inp.host_ms_on(minilm, "ground") == 9.0  # fp32 in the data centre
    assert prep.inp.host_ms_on(clf, "base-station") == 0.01  # no int8 profile: fp32's
    world = prep.inp.world_factory(type("C", (), {"now_s": lambda self: epoch})())
    e_bs = world.estimate("riyadh-sme-1", "base-station", host_compute_ms=prep.inp.host_ms_on(minilm, "base-station"),
                          input_bytes=250, output_bytes=1536, t_s=epoch)
    e_dc = world.estimate("riyadh-sme-1", "ground", host_compute_ms=prep.inp.host_ms_on(minilm, "ground"),
                          input_bytes=250, output_bytes=1536, t_s=epoch)
    topo = world.topology.tiers
    assert e_dc.compute_ms == pytest.approx(9.0 * topo["ground"].compute.slowdown_vs_host)
    assert e_bs.compute_ms / (7.0 * topo["base-station"].compute.slowdown_vs_host
                              * topo["base-station"].compute.int8_time_factor) >= 1.0  # int8 host (+ heat)
    assert 0.0 <= fig["slo_attainment"] <= 1.0 and sum(fig["tier_share"].values()) == pytest.approx(1.0, abs=1e-3)


def test_simulate_for_live_bad_input(prep, tmp_path):
    with pytest.raises(ConfigError, match="topology"):
        simulate_for_live(prep.spec, prep.file, epoch_s=0.0, platform_ms=1.0, host_ms={})
    spec = load_scenario(SCENARIO)
    with pytest.raises(ConfigError, match="no host profile"):
        simulate_for_live(spec, str(SCENARIO), epoch_s=0.0, platform_ms=1.0, host_ms={"minilm-embed": {"fp32": 1}})


def test_manifest_host_ms(tmp_path, models_dir):
    manifest = json.loads((models_dir / "digits-mlp" / "manifest.json").read_text())
    manifest["profile"] = {"fp32": {"host_ms_p50": 2.5, "runs": 3}, "int8": {"host_ms_p50": 1.5}}
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "manifest.json").write_text(json.dumps(manifest))
    assert manifest_host_ms(tmp_path, ["m"]) == {"m": {"fp32": 2.5, "int8": 1.5}}
    with pytest.raises(ConfigError, match="manifest"):
        manifest_host_ms(tmp_path, ["absent"])
    (tmp_path / "n").mkdir()
    (tmp_path / "n" / "manifest.json").write_text(json.dumps({**manifest, "profile": {}}))
    with pytest.raises(ConfigError, match="host_ms_p50"):
        manifest_host_ms(tmp_path, ["n"])
    (tmp_path / "bad").mkdir()  # manifests are validated, not read as raw JSON
    (tmp_path / "bad" / "manifest.json").write_text(json.dumps({"profile": manifest["profile"]}))
    with pytest.raises(ConfigError, match="bad"):
        manifest_host_ms(tmp_path, ["bad"])


def test_priming_rows_pin_every_pair(prep):
    rows = priming_rows(prep, per_pair=4, rate_rps=20.0)
    pairs = [(r["model"], r["tier"]) for r in rows]
    assert len(rows) == 4 * len(prep.inp.models) * len(prep.inp.tiers)
    assert {p: pairs.count(p) for p in set(pairs)} == {(m, t): 4 for m in prep.inp.models for t in prep.inp.tiers}
    assert [r["t_s"] for r in rows] == [i / 20.0 for i in range(len(rows))]
    for pair in set(pairs):  # each pair from as many sites as it has requests (every site, given enough)
        sites = [r["site"] for r in rows if (r["model"], r["tier"]) == pair]
        assert len(set(sites)) == min(4, len(prep.inp.sites))
    replay_schedule(rows)  # valid for the harness


@pytest.mark.parametrize("args, text", [
    (["-o", "yaml"], "--output"),
    (["--warmup-s", "0"], "--warmup-s"),
    (["--explain", "-1"], "--explain"),
    (["--live", "localhost:8000"], "--live"),
    (["--scenario", "/nonexistent.yaml"], "not found"),
])
def test_cli_bad_input_exits_2(args, text):
    base = {"--scenario": str(SCENARIO), "--live": "http://127.0.0.1:9"}
    for i in range(0, len(args), 2):
        base[args[i]] = args[i + 1]
    argv = [x for kv in base.items() for x in kv]
    result = CliRunner().invoke(app, argv)
    assert result.exit_code == 2, result.output
    assert text in result.output and "Traceback" not in result.output


def test_render_report_prints_the_verdict(capsys):
    from maas.cli.sim_live import render_report

    sim = {"slo_attainment": 0.95, "tier_share": {"edge": 0.6, "dc": 0.4}, "p50_ms": 10.0, "p99_ms": 30.0}
    live = {"slo_attainment": 0.90, "tier_share": {"edge": 0.58, "dc": 0.42}, "p50_ms": 11.0, "p99_ms": 40.0,
            "answered": 99, "requests": 100, "platform_slo_attainment": 0.91}
    report = {"scenario": "s", "requests": 100, "policy": "edge-aware", "epoch": "e", "same_trace": True,
              "calibration": {"platform_ms": 2.0, "ingress_ms": 3.0}, "sim": sim, "live": live,
              "comparison": compare(sim, live)}
    render_report(report)
    out = capsys.readouterr().out
    assert "SLO attainment" in out and "5.00" in out and "FAIL" in out and "share edge" in out


def test_simulate_for_live_warms_the_same_router_first(monkeypatch):
    import maas.simlive.live as live_mod

    calls = []
    real = live_mod.run_policy

    def spy(inp, policy):
        calls.append((len(inp.trace), inp.epoch_s, id(policy)))
        return real(inp, policy)

    monkeypatch.setattr(live_mod, "run_policy", spy)
    spec = load_scenario(SCENARIO)
    host = {m: {"fp32": 0.5} for m in spec.models}
    warm_trace = prepare(spec, str(SCENARIO), policies=["edge-aware"], seed=99, duration_s=2.0).inp.trace
    prep, _, _ = simulate_for_live(spec, str(SCENARIO), epoch_s=2e9, platform_ms=1.0, host_ms=host, duration_s=2.0,
                                   warmup=(2e9 - 5.0, 99, 2.0))
    assert [c[0] for c in calls] == [len(warm_trace), len(prep.inp.trace)]
    assert [round(c[1]) for c in calls] == [2e9 - 5, 2e9] and calls[0][2] == calls[1][2]  # one router, in order


def test_the_project_scenario_sets_nothing_only_the_simulator_applies():
    from maas.simlive.live import sim_only_fields

    assert sim_only_fields(load_scenario(SCENARIO)) == []


@pytest.mark.parametrize("edit, field", [
    (lambda d: d["tenants"][1].update(epsilon=0.01), "tenants.1.epsilon"),
    (lambda d: d["tenants"][0].update(priority=2), "tenants.0.priority"),
    (lambda d: d["tenants"][3].update(energy_j_per_day=5.0), "tenants.3.energy_j_per_day"),
    (lambda d: d.update(policy_options={"edge-aware": {"epsilon": 0.02}}), "policy_options"),
    (lambda d: d.update(shed_factor=None), "shed_factor"),
    (lambda d: d.update(replicas={"ground": 2}), "replicas"),
    (lambda d: d.update(faults=[{"kind": "outage", "tier": "ground", "start_s": 1, "end_s": 5}]), "faults"),
])
def test_sim_live_refuses_a_field_only_the_simulator_applies(tmp_path, edit, field):
    """Issue 16: a scenario whose tenants carry an epsilon, a budget or a priority, or that sets policy options,
    faults or replicas, would be compared against a live run that applies none of them: exit 2 naming the field,
    before any request is sent (the URL is a closed port)."""
    raw = yaml.safe_load(SCENARIO.read_text())
    edit(raw)
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(raw))
    (tmp_path / "topology.yaml").write_text((SCENARIO.parent.parent / "topology.yaml").read_text())
    raw["topology"] = "topology.yaml"
    path.write_text(yaml.safe_dump(raw))
    result = CliRunner().invoke(app, ["--scenario", str(path), "--live", "http://127.0.0.1:9"])
    assert result.exit_code == 2, result.output
    assert field in result.output and "simulator only" in result.output and "Traceback" not in result.output
