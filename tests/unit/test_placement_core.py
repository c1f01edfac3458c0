"""The one placement core: its estimate cache (reuse rule, affine host-time trick) and one placement for both
clocks (the simulator's engine and the gateway's LivePlacer make the same choices on the same trace)."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from maas.clock import ManualClock, VirtualClock
from maas.placement import EstimateCache, Fault, LivePlacer, LiveTuning, NoPlacement, Placer, TopologyTierModels
from maas.routing import RouteRequest, build_policy
from maas.settings import Settings
from maas.sim.engine import EngineInput, run_policy
from maas.sim.workload import Trace
from maas.sim.world import TableTier, TableWorld
from maas.tiers import load_topology

EPOCH_S = datetime(2026, 3, 10, 9, 0, tzinfo=UTC).timestamp()
EDGE = TableTier("edge", "base-station", uplink_ms=2.0, downlink_ms=3.0, slowdown=0.5, power_w=10.0)
SAT = TableTier("sat", "satellite", uplink_ms=10.0, downlink_ms=10.0, slowdown=2.0, power_w=5.0,
                up_period_s=10.0, up_s=4.0)


class Counting(TableWorld):
    """A table world that counts the estimates it is asked for."""

    def __init__(self, tiers):
        super().__init__(tiers)
        self.calls = 0

    def estimate(self, *args, **kwargs):
        self.calls += 1
        return super().estimate(*args, **kwargs)


def test_estimates_are_reused_for_refresh_s_and_never_past_valid_until() -> None:
    world = Counting([EDGE, SAT])
    cache = EstimateCache(world, refresh_s=1.0)
    tiers, host = ("edge", "sat"), (4.0, 4.0)
    first = cache.estimates("k", "s", tiers, host, 10, 10, now_s=0.0)
    assert world.calls == 2
    assert cache.estimates("k", "s", tiers, host, 10, 10, now_s=0.9) is first
    assert world.calls == 2
    # the satellite's window ends at 4 s: reuse stops there even though refresh_s would allow more
    later = cache.estimates("k", "s", tiers, host, 10, 10, now_s=3.5)
    assert later is not first and later.until_s == pytest.approx(4.0)
    assert cache.estimates("k", "s", tiers, host, 10, 10, now_s=4.0).true[1][1].available is False


def test_refresh_zero_asks_every_time() -> None:
    world = Counting([EDGE])
    cache = EstimateCache(world, refresh_s=0.0)
    for _ in range(3):
        cache.estimates("k", "s", ("edge",), (4.0,), 0, 0, now_s=1.0)
    assert world.calls == 3


def test_a_learned_host_time_reuses_the_cached_lines_without_growing_the_cache() -> None:
    """The gateway learns host times every request: the same key at another host time is re-evaluated on the
    cached lines (no tier-model call, one entry), and equals a fresh set at that host time."""
    world = Counting([EDGE, SAT])
    cache = EstimateCache(world, refresh_s=1.0)
    tiers = ("edge", "sat")
    first = cache.estimates("k", "s", tiers, (4.0, 4.0), 10, 10, now_s=0.0)
    calls = world.calls
    moved = cache.estimates("k", "s", tiers, (4.5, 6.0), 10, 10, now_s=0.5)
    assert world.calls == calls + 2  # the second point of each line (its slope), asked once per line
    assert moved is not first and moved.lines == first.lines and len(cache._sets) == 1
    fresh = EstimateCache(Counting([EDGE, SAT]), refresh_s=1.0).estimates("j", "s", tiers, (4.5, 6.0), 10, 10, 0.0)
    for (t, got), (_, want) in zip(moved.true, fresh.true, strict=True):
        assert got.compute_ms == pytest.approx(want.compute_ms) and got.energy_j == pytest.approx(want.energy_j), t
    cache.estimates("k", "s", tiers, (4.6, 6.1), 10, 10, now_s=0.6)
    assert world.calls == calls + 2  # slopes known: no further tier-model call


def test_affine_estimate_at_another_host_time_equals_the_tier_models_answer() -> None:
    topology = load_topology(Settings().topology_path)
    models = TopologyTierModels(topology, ManualClock(EPOCH_S))
    cache = EstimateCache(models, refresh_s=1.0)
    site = topology.default_site
    for tier in topology.tier_names:
        line = cache.line(site, tier, 2000, 400, host_ms=1.0, now_s=EPOCH_S)
        for host in (0.05, 3.0, 17.5):
            got = line.at(host)
            want = models.estimate(site, tier, host_compute_ms=host, input_bytes=2000, output_bytes=400, t_s=EPOCH_S)
            assert got.available == want.available
            for field in ("uplink_ms", "downlink_ms", "compute_ms", "energy_j", "carbon_g", "network_p99_ms"):
                assert getattr(got, field) == pytest.approx(getattr(want, field), rel=1e-9, abs=1e-12), (tier, field)
            assert line.energy_carbon(host) == pytest.approx((want.energy_j, want.carbon_g), rel=1e-9, abs=1e-12)


def test_bias_and_emulation_scales_show_what_they_should() -> None:
    biased = EstimateCache(TableWorld([EDGE]), refresh_s=0.0, bias=0.5)
    es = biased.estimates("k", "s", ("edge",), (4.0,), 0, 0, now_s=0.0)
    assert es.true[0][1].compute_ms == pytest.approx(2.0) and es.shown[0][1].compute_ms == pytest.approx(3.0)
    assert es.shown[0][1].uplink_ms == pytest.approx(3.0)
    scaled = EstimateCache(TableWorld([EDGE]), refresh_s=0.0, network_scale=0.0, compute_scale=0.0)
    e = scaled.estimates("k", "s", ("edge",), (4.0,), 0, 0, now_s=0.0).true[0][1]
    assert (e.uplink_ms, e.downlink_ms, e.compute_ms) == (0.0, 0.0, pytest.approx(4.0))  # host speed, no network


def test_a_fault_in_force_makes_the_tier_unavailable_with_the_reason() -> None:
    placer = Placer(TableWorld([EDGE, SAT]), build_policy("lowest-latency"), refresh_s=1.0,
                    faults=[Fault("outage", "edge", 10.0, 20.0)], fault_epoch_s=100.0)
    req = RouteRequest(model="m", site="s")
    got = placer.place(req, ("edge", "sat"), (4.0, 4.0), {}, now_s=100.0 + 12.0, key="k", platform_ms=1.0)
    assert not isinstance(got, NoPlacement) and got.tier == "sat"  # the satellite's window is [10, 14) s
    got = placer.place(req, ("edge", "sat"), (4.0, 4.0), {}, now_s=100.0 + 15.0, key="k", platform_ms=1.0)
    assert isinstance(got, NoPlacement) and "edge: fault: outage" in got.reason and "sat:" in got.reason


def test_strict_refusal_explains_every_tier() -> None:
    placer = Placer(TableWorld([EDGE]), build_policy("edge-aware"), refresh_s=0.0)
    req = RouteRequest(model="m", site="s", deadline_ms=3.0, strict=True)
    got = placer.place(req, ("edge",), (4.0,), {}, now_s=0.0, key="k", platform_ms=1.0)
    assert isinstance(got, NoPlacement) and got.strict and "edge:" in got.reason and "3 ms" in got.reason


def _trace(n: int, gap_s: float, sites: int, tenants: int) -> Trace:
    idx = np.arange(n)
    return Trace(idx * gap_s, idx % sites, (idx // sites) % tenants, np.zeros(n, dtype=np.int64))


def test_the_gateway_and_the_simulator_place_a_trace_on_the_same_tiers() -> None:
    """One trace through both clocks' placement: the engine (virtual clock) and LivePlacer (a manual clock, as the
    gateway would run it) get the same tier for every request, feeding the policy the same completions."""
    topology = load_topology(Settings().topology_path)
    sites = [s for s in topology.site_names if "satellite" in topology.site(s).access][:2]
    objectives = ["energy", "latency", "carbon", "balanced"]
    deadlines = [60.0, 25.0, 200.0, 40.0]
    n, gap_s, host_ms, platform_ms = 240, 1.0, 0.8, 1.5
    factory = lambda clock: TopologyTierModels(topology, clock)  # noqa: E731
    inp = EngineInput(
        tiers=list(topology.tier_names), sites=sites, models=["m"], host_ms=[host_ms], in_bytes=[2000],
        out_bytes=[400], tenant_deadline_ms=deadlines, tenant_objective=objectives, tenant_strict=[False] * 4,
        tenant_names=["a", "b", "c", "d"], trace=_trace(n, gap_s, len(sites), 4),
        link_ms=np.full((n, 4, 2), 5.0), compute_mult=np.ones(n), world_factory=factory, epoch_s=EPOCH_S,
        platform_ms=platform_ms, estimate_refresh_s=1.0, seed=3,
    )
    rec = run_policy(inp, build_policy("edge-aware"))
    assert len(set(rec.tier.tolist())) >= 2  # the trace exercises the choice, not one tier for everything
    assert np.nanmax(rec.latency_ms) < gap_s * 1000  # each request completes before the next arrives

    clock = ManualClock(EPOCH_S)
    tuning = LiveTuning(refresh_s=1.0, initial_platform_ms=platform_ms, seed=3)
    live = LivePlacer(TopologyTierModels(topology, clock), build_policy("edge-aware"), clock, tuning)
    profile = {"int8": host_ms, "fp32": host_ms}
    live_tiers = []
    for i in range(n):
        clock.advance(EPOCH_S + float(inp.trace.t_s[i]) - clock.now_s())
        t = int(inp.trace.tenant[i])
        route = RouteRequest(model="m", site=sites[int(inp.trace.site[i])], objective=objectives[t],
                             deadline_ms=deadlines[t], input_bytes=2000, output_bytes=400, tenant="abcd"[t])
        placement = live.place(route, inp.tiers, profile)
        live_tiers.append(inp.tiers.index(placement.tier))
        if rec.failed[i]:
            continue
        clock.advance(float(rec.latency_ms[i]) / 1000.0)
        live.complete(placement, host_ms, placement.estimate.compute_ms, platform_ms, float(rec.latency_ms[i]))
    assert live_tiers == rec.tier.tolist()


def test_a_virtual_clock_is_what_the_engine_sets() -> None:
    clock = VirtualClock(10.0)
    clock.t_s = 2.5
    assert clock.now_s() == 12.5
