"""World: estimates in both clocks, availability (contacts, battery, grid, maintenance), energy accounts."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest
import simpy
import yaml

from maas.clock import ManualClock
from maas.tiers import World, load_topology
from tests.support.simpy_models import SimClock

DEFAULT = Path(__file__).resolve().parents[2] / "cluster" / "topology.yaml"
T0 = dt.datetime(2026, 11, 21, 6, 0, tzinfo=dt.UTC).timestamp()
REQ = {"host_compute_ms": 20.0, "precision": "fp32", "input_bytes": 50_000, "output_bytes": 2_000}


@pytest.fixture(scope="module")
def topo():
    return load_topology(DEFAULT)


def _custom(tmp_path: Path, edit) -> object:
    raw = yaml.safe_load(DEFAULT.read_text())
    raw["sites"]["generator"]["count"] = 20
    edit(raw)
    path = tmp_path / "topo.yaml"
    path.write_text(yaml.safe_dump(raw))
    return load_topology(path)


def test_manual_and_simpy_clocks_give_the_same_estimate(topo) -> None:
    env = simpy.Environment()
    sim_world = World(topo, SimClock(env, epoch_s=T0))
    env.run(until=600.0)
    manual = World(topo, ManualClock(T0))
    manual.clock.advance(600.0)
    for tier in topo.tier_names:
        a = sim_world.estimate("riyadh-sme-1", tier, **REQ)
        b = manual.estimate("riyadh-sme-1", tier, **REQ)
        c = manual.estimate("riyadh-sme-1", tier, **REQ, t_s=T0 + 600.0)
        assert a == b == c


def test_estimate_parts_follow_the_parameters(topo) -> None:
    w = World(topo, ManualClock(T0))
    bs = w.estimate("riyadh-sme-1", "base-station", **REQ)
    spec = topo.tiers["base-station"]
    link = w._ctx["riyadh-sme-1"].links["base-station"]
    assert bs.available and bs.reason is None
    ser_up_ms = 50_000 * 8 / (spec.network.uplink_mbps * 1000)
    assert bs.uplink_ms == pytest.approx(link.half_rtt_mean_ms + ser_up_ms)
    assert bs.uplink_ms > bs.downlink_ms
    int8 = w.estimate("riyadh-sme-1", "base-station", **{**REQ, "precision": "int8"})
    assert int8.compute_ms == pytest.approx(bs.compute_ms * spec.compute.int8_time_factor)
    assert bs.energy_j == pytest.approx(
        spec.energy.active_w / spec.slots * bs.compute_ms / 1000 * spec.energy.pue
        + 52_000 * 8 * spec.network.transmission_j_per_bit
    )
    assert bs.carbon_g > 0 and bs.network_p99_ms > bs.uplink_ms + bs.downlink_ms


def test_hot_afternoon_throttles_edge_compute(topo) -> None:
    w = World(topo, ManualClock(T0))
    noon = dt.datetime(2026, 11, 21, 12, 0, tzinfo=dt.UTC).timestamp()  # 15:00 in Riyadh: 47 C
    night = noon - 12 * 3600.0  # 03:00 local: 29 C
    hot = w.estimate("riyadh-sme-1", "base-station", **REQ, t_s=noon)
    cool = w.estimate("riyadh-sme-1", "base-station", **REQ, t_s=night)
    assert cool.compute_ms == pytest.approx(REQ["host_compute_ms"] * 0.5)
    assert hot.compute_ms > cool.compute_ms
    assert w.estimate("riyadh-sme-1", "ground", **REQ, t_s=noon).compute_ms == pytest.approx(5.0)


def test_satellite_contact_gaps_report_the_next_window(tmp_path) -> None:
    def sparse(raw: dict) -> None:
        raw["tiers"]["satellite"]["constellation"].update(planes=2, sats_per_plane=2)

    topo = _custom(tmp_path, sparse)
    w = World(topo, ManualClock(T0))
    times = T0 + np.arange(0, 6 * 3600, 60.0)
    est = [w.estimate("cairo-sme-1", "satellite", **REQ, t_s=float(t)) for t in times]
    down = [e for e in est if not e.available]
    up = [e for e in est if e.available]
    assert down and up
    first = down[0].reason
    assert first.startswith("satellite: no contact until ")
    nxt = dt.datetime.fromisoformat(first.rsplit(" ", 1)[1].replace("Z", "+00:00")).timestamp()
    assert w.estimate("cairo-sme-1", "satellite", **REQ, t_s=nxt + 2).available
    assert not w.estimate("cairo-sme-1", "satellite", **REQ, t_s=nxt - 2).available
    e = up[0]
    assert e.window_end_s is not None and e.battery_reserve_j == 15185.0
    # propagation from the slant range: between zenith (550 km) and the mask (1,123 km) one way (these times
    # fall on the 15 s reassignment grid: both directions carry the handover spike)
    link = w._ctx["cairo-sme-1"].links["satellite"]
    spike = topo.tiers["satellite"].network.handover_spike_ms
    prop_ms = e.downlink_ms - link.half_rtt_mean_ms - 2000 * 8 / (100.0 * 1000) - spike
    assert 550 / 299792.458 * 1000 - 0.01 <= prop_ms <= 1125 / 299792.458 * 1000


def test_battery_below_reserve_refuses_and_drains_with_requests(tmp_path) -> None:
    def low(raw: dict) -> None:
        raw["tiers"]["satellite"]["battery"].update(initial_j=15190.0, solar_w=0.0)

    topo = _custom(tmp_path, low)
    w = World(topo, ManualClock(T0))
    t = next(
        T0 + 3600.0 + k * 30.0
        for k in range(2000)
        if w.estimate("riyadh-sme-1", "satellite", **REQ, t_s=T0 + 3600.0 + k * 30.0).window_end_s is not None
    )
    e = w.estimate("riyadh-sme-1", "satellite", **{**REQ, "host_compute_ms": 1.0}, t_s=t)
    assert e.battery_j is not None and e.battery_j < 15190.0  # idle drain since T0, no sun
    big = w.estimate("riyadh-sme-1", "satellite", **{**REQ, "host_compute_ms": 5000.0}, t_s=t)
    assert not big.available and "reserve" in big.reason
    w.record_request("riyadh-sme-1", "satellite", start_s=t, compute_ms=big.compute_ms, energy_j=big.energy_j)
    after = w.estimate("riyadh-sme-1", "satellite", **REQ, t_s=t)
    assert after.battery_j == pytest.approx(max(big.battery_after_j, 0.0))


def test_battery_energy_is_conserved(topo) -> None:
    w = World(topo, ManualClock(T0))
    sat = w.satellites
    b = sat.battery(3)
    start = b.at(T0)
    for k in range(200):
        b.draw(T0 + 300.0 * k, 40.0)
    end = b.at(T0 + 86400.0)
    assert b.solar_in_j > 0 and b.curtailed_j > 0 and b.load_j > 0
    assert end - start == pytest.approx(b.solar_in_j - b.curtailed_j - b.load_j, abs=1e-6)


def test_grid_outage_and_maintenance_take_edge_tiers_down(topo) -> None:
    w = World(topo, ManualClock(T0))
    shed = dt.datetime(2026, 11, 21, 12, 0, tzinfo=dt.UTC).timestamp()  # 14:00 Cairo: daily load shedding
    assert w.estimate("cairo-sme-1", "base-station", **REQ, t_s=shed + 600).available  # UPS rides through
    e = w.estimate("cairo-sme-1", "base-station", **REQ, t_s=shed + 1500)
    assert not e.available and e.reason == "base-station: grid outage (scheduled)"
    assert not w.estimate("cairo-sme-1", "optical-access", **REQ, t_s=shed + 1500).available
    assert w.estimate("cairo-sme-1", "ground", **REQ, t_s=shed + 1500).available
    assert w.estimate("cairo-sme-1", "base-station", **REQ, t_s=shed + 3700).available
    tue = dt.datetime(2026, 11, 24, 1, 10, tzinfo=dt.UTC).timestamp()  # Tuesday 03:10 Cairo
    m = w.estimate("cairo-sme-1", "base-station", **REQ, t_s=tue)
    assert not m.available and m.reason == "base-station: maintenance"


def test_stochastic_outages_are_seeded(topo) -> None:
    region = topo.regions["karachi"]
    a = World(topo, ManualClock(T0), seed=1).grid.grid_outages("karachi-cell0001", region, 1795219200.0)
    b = World(topo, ManualClock(T0), seed=1).grid.grid_outages("karachi-cell0001", region, 1795219200.0)
    days = [World(topo, ManualClock(T0), seed=s).grid.grid_outages("c", region, 1795219200.0) for s in range(40)]
    assert a == b
    rate = np.mean([sum(1 for o in d if o[2] == "stochastic") for d in days])
    assert 0.5 <= rate <= 1.6  # 1.0 per day configured


def test_sampled_link_delays_match_the_estimate_on_average(topo) -> None:
    w = World(topo, ManualClock(T0))
    rng = np.random.default_rng(5)
    t = T0 + 7.5  # away from the 15 s handover spike
    for tier in ("base-station", "ground"):
        draws = np.array(
            [
                w.sample_link_ms("riyadh-sme-1", tier, input_bytes=50_000, output_bytes=2_000, rng=rng, t_s=t)
                for _ in range(20_000)
            ]
        )
        e = w.estimate("riyadh-sme-1", tier, **REQ, t_s=t)
        jitter = topo.tiers[tier].network.jitter_ms * np.sqrt(2 / np.pi)
        assert draws[:, 0].mean() == pytest.approx(e.uplink_ms + jitter, rel=0.03)
        assert np.percentile(draws.sum(axis=1), 99) <= e.network_p99_ms * 1.05


def test_satellite_estimate_follows_handover_spikes_and_matches_samples(topo) -> None:
    w = World(topo, ManualClock(T0))
    t_in = next(T0 + 60.0 * k for k in range(600)
                if w.estimate("riyadh-sme-1", "satellite", **REQ, t_s=T0 + 60.0 * k).window_end_s is not None)
    spike = topo.tiers["satellite"].network.handover_spike_ms
    spiked = w.estimate("riyadh-sme-1", "satellite", **REQ, t_s=t_in + 0.2)  # inside the 1 s spike
    quiet = w.estimate("riyadh-sme-1", "satellite", **REQ, t_s=t_in + 7.5)
    assert spiked.valid_until_s == pytest.approx(t_in + 1.0)  # the spike's end, before the window's
    assert quiet.valid_until_s == pytest.approx(t_in + 15.0)  # the next reassignment
    assert spiked.uplink_ms + spiked.downlink_ms - (quiet.uplink_ms + quiet.downlink_ms) == pytest.approx(
        2 * spike, abs=1.0)  # the slant range moves a little in 7 s
    rng = np.random.default_rng(3)
    for t, e in ((t_in + 0.2, spiked), (t_in + 7.5, quiet)):
        draws = np.array([sum(w.sample_link_ms("riyadh-sme-1", "satellite", input_bytes=50_000, output_bytes=2_000,
                                               rng=rng, t_s=t)) for _ in range(5_000)])
        jitter = 2 * topo.tiers["satellite"].network.jitter_ms * np.sqrt(2 / np.pi)
        assert draws.mean() == pytest.approx(e.uplink_ms + e.downlink_ms + jitter, rel=0.03)
        assert np.percentile(draws, 99) <= e.network_p99_ms * 1.05


def test_link_degradation_fault(topo) -> None:
    w = World(topo, ManualClock(T0))
    before = w.estimate("riyadh-sme-1", "ground", **REQ, t_s=T0 + 10)
    later = w.estimate("riyadh-sme-1", "ground", **REQ, t_s=T0 + 61)
    w.degrade_link("ground", start_s=T0, end_s=T0 + 60, rtt_factor=3.0, bandwidth_factor=2.0)
    during = w.estimate("riyadh-sme-1", "ground", **REQ, t_s=T0 + 10)
    after = w.estimate("riyadh-sme-1", "ground", **REQ, t_s=T0 + 61)
    assert during.uplink_ms > before.uplink_ms * 2 and after == later


def test_energy_is_conserved_over_a_run(topo) -> None:
    w = World(topo, ManualClock(T0))
    rng = np.random.default_rng(3)
    sites = ["riyadh-sme-1", "cairo-sme-1", "urumqi-sme-1"]
    booked = 0.0
    for _ in range(3000):
        site, tier = sites[rng.integers(3)], ("base-station", "ground", "satellite")[rng.integers(3)]
        start = T0 + rng.uniform(0, 3000)
        e = w.estimate(site, tier, **REQ, t_s=start)
        w.record_request(site, tier, start_s=start, compute_ms=e.compute_ms, energy_j=e.energy_j)
        booked += e.energy_j
    rep = w.energy_report(T0, T0 + 3600)
    total_tx = sum(r.transmission_j for r in rep.values())
    assert sum(r.request_compute_j for r in rep.values()) + total_tx == pytest.approx(booked, rel=1e-9)
    for tier, r in rep.items():
        assert r.requests > 0 and r.idle_j > 0
        assert r.request_compute_j + r.idle_j == pytest.approx(r.integral_j, rel=1e-9), tier


def test_estimates_are_reused_for_refresh_s_but_never_past_a_step_change() -> None:
    from types import SimpleNamespace

    from maas.tiers.world import reuse_until_s

    steady, window = SimpleNamespace(valid_until_s=None), SimpleNamespace(valid_until_s=100.4)
    assert reuse_until_s(100.0, 1.0, [steady]) == 101.0
    assert reuse_until_s(100.0, 1.0, [steady, window]) == 100.4
    assert reuse_until_s(100.0, 0.2, [window]) == pytest.approx(100.2)
