"""One fault model for the engine and the oracle: they agree on which requests a fault or a window touches."""

from __future__ import annotations

import numpy as np
import pytest

from maas.placement import Fault, blocked, link_factor
from maas.routing.baselines import SingleTierPolicy
from maas.sim.engine import EngineInput, run_policy
from maas.sim.runner import oracle_instance
from maas.sim.workload import Trace
from maas.sim.world import TableTier, TableWorld


def test_blocks_is_down_at_arrival_or_during_service() -> None:
    f = Fault("outage", "edge", start_s=10.0, end_s=20.0, sites=frozenset({"a"}))
    assert f.blocks("edge", "a", 12.0, 12.1, 12.2)  # arrives in the outage
    assert f.blocks("edge", "a", 9.9, 9.95, 10.01)  # its service runs into the outage
    assert not f.blocks("edge", "a", 9.9, 9.95, 9.99)  # served before it (the downlink may overlap: not a fault)
    assert not f.blocks("edge", "b", 12.0, 12.1, 12.2)  # another site
    assert not f.blocks("ground", "a", 12.0, 12.1, 12.2)  # another tier
    assert not Fault("link_degradation", "edge", 10.0, 20.0, factor=3.0).blocks("edge", "a", 12.0, 12.0, 12.1)
    assert blocked([f], "edge", "a", 19.9, 20.0, 20.1) and not blocked([f], "edge", "a", 20.0, 20.0, 20.1)
    assert link_factor([Fault("link_degradation", "edge", 0.0, 5.0, factor=2.0),
                        Fault("link_degradation", "edge", 1.0, 5.0, factor=3.0)], "edge", "a", 2.0) == 6.0


def _input(tiers: list[TableTier], faults: list[Fault], t_s: np.ndarray) -> EngineInput:
    n = len(t_s)
    rng = np.random.default_rng(5)
    link = np.zeros((n, len(tiers), 2))
    for k, t in enumerate(tiers):  # true link times spread around the tier's figures
        link[:, k, 0] = t.uplink_ms * rng.uniform(0.5, 1.5, n)
        link[:, k, 1] = t.downlink_ms * rng.uniform(0.5, 1.5, n)
    return EngineInput(
        tiers=[t.name for t in tiers], sites=["a", "b"], models=["m"], host_ms=[4.0], in_bytes=[0], out_bytes=[0],
        tenant_deadline_ms=[1000.0], tenant_objective=["latency"], tenant_strict=[False], tenant_names=["t"],
        trace=Trace(t_s, np.arange(n) % 2, np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)),
        link_ms=link, compute_mult=rng.uniform(0.8, 1.2, n), world_factory=lambda clock: TableWorld(tiers),
        epoch_s=0.0, platform_ms=1.0, faults=faults,
    )


def test_the_oracle_and_the_engine_agree_on_what_faults_and_windows_touch() -> None:
    # many slots: no request ever waits, so the oracle's no-wait service is the engine's service
    edge = TableTier("edge", "base-station", uplink_ms=3.0, downlink_ms=20.0, slowdown=2.0, slots=10_000)
    sat = TableTier("sat", "satellite", uplink_ms=5.0, downlink_ms=5.0, slowdown=1.0, slots=10_000,
                    up_period_s=1.0, up_s=0.6)
    faults = [Fault("outage", "edge", 0.30, 0.55), Fault("outage", "edge", 1.20, 1.40, sites=frozenset({"a"})),
              Fault("outage", "sat", 1.70, 1.75), Fault("link_degradation", "sat", 0.0, 3.0, factor=1.5)]
    t_s = np.linspace(0.0, 2.5, 2001)
    inp = _input([edge, sat], faults, t_s)
    inst, _ = oracle_instance(inp, bucket_s=0.1)
    touched_by_trip_only = 0
    for k, tier in enumerate(inp.tiers):
        rec = run_policy(inp, SingleTierPolicy(tier))
        engine_ok = (rec.tier == k) & ~rec.failed
        oracle_ok = np.isfinite(inst.latency_ms[:, k])
        assert engine_ok.tolist() == oracle_ok.tolist(), tier
        assert 0 < engine_ok.sum() < len(t_s)  # the faults and windows touch some requests, not all
        assert rec.latency_ms[engine_ok] == pytest.approx(inst.latency_ms[engine_ok, k])
        # requests whose downlink, not their service, overlaps an outage: the old oracle counted them as lost
        for i in np.flatnonzero(engine_ok):
            end_s = t_s[i] + inst.latency_ms[i, k] / 1000.0
            site = inp.sites[inp.trace.site[i]]
            touched_by_trip_only += any(f.kind == "outage" and f.overlaps(tier, site, t_s[i], end_s) for f in faults)
    assert touched_by_trip_only > 0
