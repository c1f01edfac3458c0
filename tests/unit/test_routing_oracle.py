"""The MILP oracle against brute force on a tiny instance, and its size limit."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from maas.errors import InvalidInput
from maas.routing.oracle import OracleInstance, solve_oracle


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


def brute(inst: OracleInstance) -> tuple[int, float]:
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
            energy += inst.energy_j[r, t]
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
