"""Tenants with daily joule budgets in virtual time: the tenant minimises energy from 80% of its budget and is
refused (a 429 live) once it is spent; a new UTC day resets it; tenants without a budget are untouched."""

from __future__ import annotations

import numpy as np

from maas.routing import build_policy
from maas.sim.engine import EngineInput, run_policy
from maas.sim.workload import Trace
from maas.sim.world import TableTier, TableWorld

FAST = TableTier("fast", "optical-access", uplink_ms=1.0, downlink_ms=1.0, slowdown=0.5, power_w=100.0, slots=64)
FRUGAL = TableTier("frugal", "base-station", uplink_ms=3.0, downlink_ms=3.0, slowdown=1.0, power_w=10.0, slots=64)
HOST_MS = 4.0  # fast: 2 ms at 100 W = 0.2 J; frugal: 4 ms at 10 W = 0.04 J


def _input(t_s: list[float], tenants: list[int], budgets: list[float | None]) -> EngineInput:
    n = len(t_s)
    link = np.zeros((n, 2, 2))
    for k, t in enumerate((FAST, FRUGAL)):
        link[:, k] = (t.uplink_ms, t.downlink_ms)
    return EngineInput(
        tiers=["fast", "frugal"], sites=["s"], models=["m"], host_ms=[HOST_MS], in_bytes=[0], out_bytes=[0],
        tenant_deadline_ms=[50.0, 50.0], tenant_objective=["latency", "latency"], tenant_strict=[False, False],
        tenant_names=["budgeted", "free"],
        trace=Trace(np.array(t_s), np.zeros(n, dtype=np.int64), np.array(tenants), np.zeros(n, dtype=np.int64)),
        link_ms=link, compute_mult=np.ones(n), world_factory=lambda clock: TableWorld([FAST, FRUGAL]),
        epoch_s=0.0, platform_ms=1.0, tenant_energy_budget_j=budgets, energy_shift_pressure=0.8,
    )


def test_a_budgeted_tenant_shifts_to_energy_then_is_refused_and_a_new_day_resets_it() -> None:
    t_s = [float(i) for i in range(12)] + [86400.0 + 1.0]
    inp = _input(t_s, [0] * len(t_s), [1.0, None])
    rec = run_policy(inp, build_policy("edge-aware"))
    tiers = rec.tier.tolist()
    # 0.2 J per fast request: 4 of them reach 0.8 J (80%); then frugal at 0.04 J until 1.0 J is spent
    assert tiers[:4] == [0, 0, 0, 0]
    assert tiers[4:9] == [1, 1, 1, 1, 1]  # 0.8 + 5 x 0.04 = 1.0 J: spent
    assert rec.refused.tolist()[9:12] == [True, True, True] and tiers[9:12] == [-1, -1, -1]
    assert tiers[12] == 0 and not rec.refused[12]  # the next UTC day: the budget is back, latency first again
    assert rec.tenant_energy_j[0] <= 1.0 + 0.2 + 1e-9  # one day's budget, then the new day's first request


def test_tenants_without_a_budget_are_untouched() -> None:
    t_s = [float(i) for i in range(10)]
    rec = run_policy(_input(t_s, [1] * 10, [1.0, None]), build_policy("edge-aware"))
    assert rec.tier.tolist() == [0] * 10 and not rec.refused.any()
    assert rec.tenant_energy_j[1] == sum(rec.energy_j)
