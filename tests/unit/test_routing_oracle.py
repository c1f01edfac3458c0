"""The MILP oracle against brute force on a tiny instance, and its size limit."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from maas.errors import InvalidInput
from maas.routing.oracle import STAGE2_COST_CAP, OracleInstance, objective_costs, solve_oracle


def tiny() -> OracleInstance:
    rng = np.random.default_rng(7)
    n, k = 6, 3
    return OracleInstance(
        tiers=["a", "b", "c"],
        arrival_s=np.sort(rng.uniform(0, 0.2, n)),
        deadline_ms=rng.choice([15.0, 30.0], n),
        latency_ms=np.where(rng.random((n, k)) < 0.15, np.inf, rng.uniform(5, 35, (n, k))),
        service_ms=rng.uniform(20, 60, (n, k)),
        energy_j=rng.uniform(0.1, 3.0, (n, k)),
        slots=np.array([1, 1, 2]),
        bucket_s=0.1,
        energy_cap_j={"c": 2.0},
    )


def brute(inst: OracleInstance, cost: np.ndarray | None = None) -> tuple[int, float]:
    """(most requests within deadline, least stage-2 cost among those: energy, or ``cost``)."""
    n, k = inst.latency_ms.shape
    bucket = np.floor((inst.arrival_s - inst.arrival_s.min()) / inst.bucket_s).astype(int)
    best = (-1, 0.0)
    for choice in itertools.product(range(-1, k), repeat=n):
        load: dict[tuple[int, int], float] = {}
        met, energy, ok = 0, 0.0, True
        cap_used = 0.0
        for r, t in enumerate(choice):
            if t < 0:
                continue
            if not inst.latency_ms[r, t] <= inst.deadline_ms[r]:
                ok = False  # the oracle only serves requests it can meet
                break
            load[(t, bucket[r])] = load.get((t, bucket[r]), 0.0) + inst.service_ms[r, t]
            met += 1
            energy += (inst.energy_j if cost is None else cost)[r, t]
            if t == 2:
                cap_used += inst.energy_j[r, t]
        if not ok or cap_used > 2.0:
            continue
        if any(v > inst.slots[t] * inst.bucket_s * 1000 for (t, _), v in load.items()):
            continue
        if met > best[0] or (met == best[0] and energy < best[1]):
            best = (met, energy)
    return best


def test_milp_matches_brute_force() -> None:
    inst = tiny()
    res = solve_oracle(inst)
    met, energy = brute(inst)
    assert res.status == "optimal"
    assert res.met == met
    assert res.energy_j == pytest.approx(energy, rel=1e-6)
    served = res.assignment >= 0
    assert res.met == int(served.sum())


def test_too_large_is_refused_at_once() -> None:
    n = 50
    inst = OracleInstance(["a"], np.zeros(n), np.ones(n), np.ones((n, 1)), np.ones((n, 1)), np.ones((n, 1)),
                          np.array([1]))
    with pytest.raises(InvalidInput, match="too large: 50 requests > limit 10"):
        solve_oracle(inst, max_requests=10)


def test_objective_costs_rank_each_request_by_its_tenants_objective() -> None:
    inst = OracleInstance(
        tiers=["fast", "frugal", "green"], arrival_s=np.zeros(4), deadline_ms=np.array([50.0, 50.0, 50.0, 40.0]),
        latency_ms=np.array([[10.0, 20.0, 40.0]] * 3 + [[10.0, 20.0, 60.0]]),
        service_ms=np.ones((4, 3)), energy_j=np.array([[4.0, 1.0, 2.0]] * 4), slots=np.array([1, 1, 1]))
    carbon = np.array([[3.0, 2.0, 0.5]] * 4)
    cost = objective_costs(inst, carbon, ["latency", "energy", "carbon", "balanced"], balanced_weight=0.5)
    assert np.argmin(cost, axis=1).tolist() == [0, 1, 2, 1]
    np.testing.assert_allclose(cost[0], [1.0, 2.0, 4.0])  # latency over the fastest feasible tier's
    np.testing.assert_allclose(cost[1], [4.0, 1.0, 2.0])  # joules over the least
    np.testing.assert_allclose(cost[2], [6.0, 4.0, 1.0])  # grams over the least
    # balanced: 0.5 * latency / deadline + 0.5 * energy / least feasible energy; the green tier misses 40 ms
    np.testing.assert_allclose(cost[3, :2], [0.5 * 10 / 40 + 0.5 * 4.0, 0.5 * 20 / 40 + 0.5 * 1.0])


def test_objective_costs_are_capped_so_one_request_cannot_outweigh_many() -> None:
    inst = OracleInstance(["a", "b"], np.zeros(1), np.array([100.0]), np.array([[1.0, 90.0]]), np.ones((1, 2)),
                          np.ones((1, 2)), np.array([1, 1]))
    cost = objective_costs(inst, np.zeros((1, 2)), ["latency"])
    assert cost[0].tolist() == [1.0, STAGE2_COST_CAP]


def test_objective_oracle_matches_brute_force_and_keeps_stage_one() -> None:
    inst = tiny()
    objectives = ["latency", "energy", "carbon", "balanced", "latency", "energy"]
    carbon = np.random.default_rng(3).uniform(0.0, 1.0, inst.energy_j.shape)
    inst.cost = objective_costs(inst, carbon, objectives)
    res = solve_oracle(inst)
    met, best_cost = brute(inst, inst.cost)
    assert res.status == "optimal"
    assert res.met == met == brute(tiny())[0]  # stage 1 does not depend on stage 2
    served = np.nonzero(res.assignment >= 0)[0]
    assert inst.cost[served, res.assignment[served]].sum() == pytest.approx(best_cost, rel=1e-6)


def test_objective_oracle_sends_a_latency_tenant_to_its_fastest_tier() -> None:
    inst = OracleInstance(["fast", "frugal"], np.zeros(2), np.array([50.0, 50.0]),
                          np.array([[5.0, 30.0], [5.0, 30.0]]), np.ones((2, 2)), np.array([[3.0, 1.0]] * 2),
                          np.array([4, 4]))
    assert solve_oracle(inst).assignment.tolist() == [1, 1]  # least energy
    inst.cost = objective_costs(inst, np.zeros((2, 2)), ["latency", "energy"])
    assert solve_oracle(inst).assignment.tolist() == [0, 1]
