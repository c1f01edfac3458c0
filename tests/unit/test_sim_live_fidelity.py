"""Issue 16: what makes the simulated side run the live side's experiment, and the decision-level diff.

- The engine's per-request overheads: the gateway's own (``overhead_ms``, delays the tier and is observed) and the
  client's only (``client_ms``, seen in latency, never observed by the router).
- ``LiveInputs``: the world seed, the request/response sizes and the calibrated overhead samples reach the engine.
- ``Placer.explain`` / the gateway's ``decision`` parameter / the engine's per-request decisions: the same dict.
- ``divergences``: the requests the two sides routed differently, with both decisions.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest

from maas.api.hints import parse_hints
from maas.errors import InvalidInput
from maas.routing import build_policy
from maas.sim.engine import run_policy
from maas.sim.runner import prepare
from maas.sim.scenario import load_scenario
from maas.simlive.explain import divergence_summary, divergences
from maas.simlive.live import LiveInputs, _output_bytes, measured_host_ms, overhead_samples, simulate_for_live
from maas.simlive.replay import LiveRun, RequestOutcome, trace_rows
from tests.support.reference import v2_inputs

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = ROOT / "cluster" / "scenarios" / "sim-to-real.yaml"
CAIRO = ROOT / "cluster" / "scenarios" / "sim-to-real-suite" / "cairo-energy.yaml"
EPOCH_S = datetime(2026, 11, 21, 9, 30, 7, tzinfo=timezone.utc).timestamp()
HOST = {"minilm-embed": {"fp32": 9.0, "int8": 7.0}, "digits-mlp": {"fp32": 0.01}, "maintenance-clf": {"fp32": 0.01}}


def _prep(duration_s: float = 3.0):
    spec = load_scenario(SCENARIO)
    return prepare(spec, str(SCENARIO), policies=["edge-aware"], duration_s=duration_s)


def test_gateway_overhead_per_request_delays_the_tier_and_is_observed():
    base = _prep()
    same = _prep()
    same.inp.overhead_ms = np.full(len(same.inp.trace), same.inp.platform_ms)
    a, b = run_policy(base.inp, build_policy("edge-aware")), run_policy(same.inp, build_policy("edge-aware"))
    np.testing.assert_array_equal(a.tier, b.tier)  # a constant array is the scalar
    np.testing.assert_allclose(a.latency_ms, b.latency_ms, equal_nan=True)
    slow = _prep()
    slow.inp.overhead_ms = np.full(len(slow.inp.trace), slow.inp.platform_ms + 4.0)
    c = run_policy(slow.inp, build_policy("edge-aware"))
    done = np.isfinite(a.latency_ms) & np.isfinite(c.latency_ms) & (a.tier == c.tier)
    assert done.sum() > 10
    # 4 ms more before the uplink on every request: no request is faster, and the median is >= 4 ms slower
    assert (c.latency_ms[done] >= a.latency_ms[done] + 4.0 - 1e-9).all()


def test_client_overhead_is_seen_not_observed():
    base, ingress = _prep(), _prep()
    n = len(ingress.inp.trace)
    ingress.inp.client_ms = np.linspace(0.0, 30.0, n)  # up to 30 ms: it would turn tiers infeasible if observed
    a, b = run_policy(base.inp, build_policy("edge-aware")), run_policy(ingress.inp, build_policy("edge-aware"))
    np.testing.assert_array_equal(a.tier, b.tier)  # the router never saw it: every decision is the same
    done = np.isfinite(a.latency_ms)
    np.testing.assert_allclose(b.latency_ms[done], a.latency_ms[done] + ingress.inp.client_ms[done])
    deadline = np.array([base.inp.tenant_deadline_ms[j] or np.inf for j in base.inp.trace.tenant])
    np.testing.assert_array_equal(b.met[done], b.latency_ms[done] <= deadline[done])  # met as the client sees it
    assert b.met.sum() < a.met.sum()


def test_overhead_samples_are_pairs_per_answered_request():
    parts = {"uplink_ms": 2.0, "queue_ms": 1.0, "compute_ms": 3.0, "downlink_ms": 2.0}
    outs = [RequestOutcome(0, 200, 20.0, 0.0, 30.0, "edge", parts_ms={**parts, "platform_ms": 1.5}),
            RequestOutcome(1, 503, 5.0, 0.0, 30.0, error="x"),
            RequestOutcome(2, 200, 9.0, 0.0, 30.0, "edge", parts_ms={**parts, "platform_ms": 2.0})]
    got = overhead_samples(LiveRun(0.0, outs))
    np.testing.assert_allclose(got, [[1.5, 20.0 - 9.5], [2.0, 0.0]])  # ingress floored at 0
    with pytest.raises(InvalidInput):
        overhead_samples(LiveRun(0.0, outs[1:2]))


def test_live_inputs_reach_the_engine():
    spec = load_scenario(CAIRO)
    samples = np.array([[0.5, 5.0], [1.0, 6.0], [9.0, 40.0]])
    live_in = LiveInputs(1.0, 6.0, samples, world_seed=0, io_bytes={"minilm-embed": (251.6, 1536)}, explain=True,
                         host_ms={"digits-mlp": {"ground": 0.07}})
    prep, fig, record = simulate_for_live(spec, str(CAIRO), epoch_s=EPOCH_S, platform_ms=99.0, host_ms=HOST,
                                          duration_s=3.0, live_inputs=live_in)
    inp = prep.inp
    assert trace_rows(prep) == trace_rows(prepare(spec, str(CAIRO), policies=["edge-aware"], duration_s=3.0))
    assert prep.spec.seed == 0 and spec.seed == 21  # the live world, the scenario's trace
    assert inp.platform_ms == 1.0  # what the router estimates: LiveInputs', not the argument
    assert inp.live_queues  # the live platform's queues
    j = inp.models.index("minilm-embed")
    assert (inp.in_bytes[j], inp.out_bytes[j]) == (252, 1536)
    k = inp.models.index("digits-mlp")
    assert inp.in_bytes[k] == spec.models["digits-mlp"].input_bytes  # no live size: the scenario's
    assert inp.host_ms_on(k, "ground") == 0.07  # measured on one tier: the others take it (one host CPU)
    assert inp.host_ms_on(k, "base-station") == 0.07 and inp.host_ms_on(k, "satellite") == 0.07
    c = inp.models.index("maintenance-clf")
    assert inp.host_ms_on(c, "ground") == 0.01  # nothing measured for this model: the profile
    pairs = {tuple(r) for r in samples.tolist()}
    drawn = set(zip(inp.overhead_ms.tolist(), inp.client_ms.tolist(), strict=True))
    assert drawn <= pairs and len(drawn) == 3  # pairs kept together, every sample drawn over ~90 requests
    placed = record.tier >= 0
    assert placed.any() and record.decisions is not None
    for i in np.flatnonzero(placed):
        assert record.decisions[i]["ranking"][0] == inp.tiers[record.tier[i]] or not record.decisions[i][
            "tiers"][record.decisions[i]["ranking"][0]]["available"]
    assert 0.0 <= fig["slo_attainment"] <= 1.0


def test_measured_host_ms_is_the_median_per_model_and_tier():
    rows = [{"model": "a"}, {"model": "a"}, {"model": "a"}, {"model": "b"}, {"model": "a"}]
    outs = [RequestOutcome(0, 200, 1.0, 0.0, None, "edge", host_ms=0.05),
            RequestOutcome(1, 200, 1.0, 0.0, None, "edge", host_ms=0.07),
            RequestOutcome(2, 200, 1.0, 0.0, None, "dc", host_ms=0.2),
            RequestOutcome(3, 200, 1.0, 0.0, None, "edge", host_ms=3.0),
            RequestOutcome(4, 503, 1.0, 0.0, None, error="x")]
    more = [RequestOutcome(0, 200, 1.0, 0.0, None, "edge", host_ms=0.09)]
    got = measured_host_ms((rows, LiveRun(0.0, outs)), (rows[:1], LiveRun(0.0, more)))
    assert got == {"a": {"edge": 0.07, "dc": 0.2}, "b": {"edge": 3.0}}
    assert measured_host_ms() == {}


def test_output_bytes_from_v2_metadata_match_the_manifest(catalog):
    for name in catalog.names():
        m = catalog.get(name)
        meta = {"outputs": [{"name": t.name, "datatype": t.datatype, "shape": t.shape} for t in m.outputs]}
        assert _output_bytes(meta) == m.output_bytes(1) > 0
    assert _output_bytes({}) == 0


def test_explain_hint_parses_and_refuses_junk():
    kw = dict(tiers=["edge"], site_exists=lambda s: True, default_site="a")
    assert parse_hints({"explain": True}, {}, **kw).explain is True
    assert parse_hints({}, {"x-maas-explain": "1"}, **kw).explain is True
    assert parse_hints({}, {}, **kw).explain is False
    with pytest.raises(InvalidInput, match="explain"):
        parse_hints({"explain": "maybe"}, {}, **kw)


def test_gateway_answers_its_decision_when_asked(local):
    client, _, topology = local
    resp = client.post("/v2/models/maintenance-clf/infer", json={
        "parameters": {"explain": True, "deadline_ms": 40, "objective": "energy"},
        "inputs": v2_inputs("maintenance-clf")})
    assert resp.status_code == 200, resp.text
    params = resp.json()["parameters"]
    decision = json.loads(params["decision"])
    assert set(decision["tiers"]) == set(topology.tier_names)
    assert decision["ranking"][0] == params["tier"]
    chosen = decision["tiers"][params["tier"]]
    assert chosen["available"] and chosen["feasible"] and chosen["expected_ms"] > 0 and chosen["energy_j"] > 0
    plain = client.post("/v2/models/maintenance-clf/infer", json={"inputs": v2_inputs("maintenance-clf")})
    assert "decision" not in plain.json()["parameters"]
    assert params["host_ms"] > 0  # the real onnxruntime time the router learns from
    meta = client.get("/v2").json()["maas"]
    assert meta["policy"] == params["policy"] and isinstance(meta["world_seed"], int)


def test_divergences_list_the_requests_routed_differently():
    prep = _prep(1.0)
    prep.inp.explain = True
    record = run_policy(prep.inp, build_policy("edge-aware"))
    rows = trace_rows(prep)
    tiers = prep.inp.tiers
    outs = []
    for i in range(len(rows)):
        k = int(record.tier[i])
        tier = None if k < 0 else tiers[k] if i % 3 else tiers[(k + 1) % len(tiers)]  # every third moved
        outs.append(RequestOutcome(i, 200 if tier else 503, 10.0, 0.0, None, tier,
                                   decision={"ranking": [tier], "tiers": {}} if tier else None))
    moved = [i for i in range(len(rows)) if record.tier[i] >= 0 and i % 3 == 0]
    got = divergences(rows, outs, record, tiers, limit=5)
    assert [d["index"] for d in got] == moved[:5]
    d = got[0]
    assert d["live"]["tier"] != d["sim"]["tier"] == tiers[record.tier[d["index"]]]
    assert d["sim"]["ranking"] == record.decisions[d["index"]]["ranking"]
    assert d["request"]["model"] == rows[d["index"]]["model"]
    summary = divergence_summary(outs, record, tiers)
    assert summary["routed_differently"] == len(moved) and summary["answered_both"] == int((record.tier >= 0).sum())
    assert divergences(rows, outs, dataclasses.replace(record, decisions=None), tiers, 1)[0]["sim"]["tiers"] is None


def test_render_report_prints_the_divergences(capsys):
    from maas.cli.sim_live import render_report
    from maas.simlive.live import compare

    sim = {"slo_attainment": 0.95, "tier_share": {"edge": 0.6, "dc": 0.4}, "p50_ms": 10.0, "p99_ms": 30.0}
    live = {"slo_attainment": 0.95, "tier_share": {"edge": 0.62, "dc": 0.38}, "p50_ms": 11.0, "p99_ms": 40.0,
            "answered": 100, "requests": 100, "platform_slo_attainment": 0.95}
    row = {"available": True, "expected_ms": 9.5, "quantile_ms": 14.25, "queue_ms": 0.0, "compute_ms": 0.076,
           "platform_ms": 0.8,
           "energy_j": 0.0005, "feasible": True}
    divergence = {"index": 7, "t_s": 0.25, "request": {"model": "m", "site": "s", "tenant": "t", "objective": "energy",
                                                       "deadline_ms": 40.0, "strict": False},
                  "live": {"tier": "edge", "ranking": ["edge", "dc"], "tiers": {"edge": row}},
                  "sim": {"tier": "dc", "ranking": ["dc", "edge"],
                          "tiers": {"edge": {**row, "feasible": False, "reason": "P(latency <= 40 ms) too low"},
                                    "dc": {"available": False, "reason": "grid outage", "feasible": False}}}}
    report = {"scenario": "s", "requests": 100, "policy": "edge-aware", "epoch": "e", "same_trace": True,
              "calibration": {"platform_ms": 0.8, "ingress_ms": 5.0}, "sim": sim, "live": live,
              "comparison": compare(sim, live),
              "decisions": {"answered_both": 100, "routed_differently": 2, "moves_live_to_sim": {"edge -> dc": 2}},
              "divergences": [divergence]}
    render_report(report)
    out = capsys.readouterr().out
    assert "2 of 100 requests" in out and "live edge, sim dc: 2" in out
    assert "request 7 at 0.250 s" in out and "live ranking edge > dc" in out and "sim ranking dc > edge" in out
    assert "9.5 ms q 14.2" in out and "compute 0.076" in out and "0.50 mJ" in out and "too low" in out and "unavailable (grid outage)" in out


def test_an_unmeasured_tier_takes_the_same_variant_first():
    from maas.simlive.live import _all_tiers

    precision = {"edge": "int8", "olt": "int8", "dc": "fp32", "sat": "fp32"}
    got = _all_tiers({"edge": 1.0, "dc": 3.0, "sat": 5.0}, ["edge", "olt", "dc", "sat"], precision)
    assert got == {"edge": 1.0, "olt": 1.0, "dc": 3.0, "sat": 5.0}
    assert _all_tiers({"dc": 3.0}, ["edge", "dc"], precision) == {"edge": 3.0, "dc": 3.0}
    assert _all_tiers({}, ["edge"], precision) == {}


def test_overhead_models_draw_what_they_say():
    from maas.simlive.live import OVERHEAD_MODEL, OVERHEAD_MODELS, _overhead_draws

    samples = np.array([[0.5, 5.0], [1.0, 6.0], [9.0, 40.0]])
    assert OVERHEAD_MODEL in OVERHEAD_MODELS
    assert _overhead_draws(samples, 6.0, "median") is None
    np.testing.assert_array_equal(_overhead_draws(samples, 6.0, "full-tail"), samples)
    gw = _overhead_draws(samples, 6.0, "gateway-tail")
    np.testing.assert_array_equal(gw, [[0.5, 6.0], [1.0, 6.0], [9.0, 6.0]])  # the ingress at its median
    assert samples[2, 1] == 40.0  # the calibration itself untouched
