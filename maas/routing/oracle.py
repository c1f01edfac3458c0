"""Offline oracle: with the whole trace known, the assignment that maximises requests within deadline, then
minimises energy (a two-stage MILP solved by scipy.optimize.milp / HiGHS).

The instance (``OracleInstance``) gives, per request r and tier k, the realised latency without queueing, the
slot time the request occupies, its energy, and whether the tier can take it. Queueing is modelled as capacity:
in every time bucket of ``bucket_s`` a tier cannot be given more slot-milliseconds of work than it has
(``slots * bucket``), and a request counts only on a tier where it meets its deadline; the oracle may leave a
hopeless request unserved (no energy). ``energy_cap_j`` bounds a tier's energy over the whole trace (battery above
reserve). Because queueing inside a bucket is relaxed, the result is an upper bound on attainment.
Stage 1 maximises the number of requests within deadline; stage 2 fixes that number and minimises energy, or,
when the instance carries ``cost`` (``objective_costs``: each request's own tenant objective, normalised to its
best tier), that cost: the best assignment that honours what each tenant asked for.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import csr_array

from maas.errors import InvalidInput

__all__ = ["OracleInstance", "OracleResult", "solve_oracle", "objective_costs", "MAX_ORACLE_REQUESTS",
           "STAGE2_COST_CAP"]

MAX_ORACLE_REQUESTS = 5000
STAGE2_COST_CAP = 10.0  # a request's stage-2 cost at most 10x its best tier's: one request cannot outweigh ten


@dataclass
class OracleInstance:
    """A whole trace: arrays of shape (n, k) for latency_ms (inf = cannot), service_ms, energy_j; n for the rest.

    ``slots`` gives the slots of each capacity group; by default group = tier (``slots`` per tier), or
    ``location[r, k]`` names the group (a tier location: a cell, a data centre...) request r uses on tier k.
    """

    tiers: list[str]
    arrival_s: np.ndarray
    deadline_ms: np.ndarray
    latency_ms: np.ndarray
    service_ms: np.ndarray
    energy_j: np.ndarray
    slots: np.ndarray
    bucket_s: float = 0.1
    energy_cap_j: dict[str, float] | None = None
    location: np.ndarray | None = None
    cost: np.ndarray | None = None  # (n, k) stage-2 cost; None = energy_j


@dataclass
class OracleResult:
    """The optimum: ``assignment[r]`` is a tier index or -1 (unserved); ``met`` and ``energy_j`` its figures."""

    assignment: np.ndarray
    met: int
    n: int
    energy_j: float
    status: str

    @property
    def attainment(self) -> float:
        return self.met / self.n if self.n else 1.0

    @property
    def energy_j_per_success(self) -> float:
        return self.energy_j / self.met if self.met else float("inf")


def _check(inst: OracleInstance, max_requests: int) -> int:
    n = len(inst.arrival_s)
    if n > max_requests:
        raise InvalidInput(
            f"oracle instance too large: {n} requests > limit {max_requests} "
            "(shorten the scenario's duration_s or lower its rate to compare with the oracle)"
        )
    k = len(inst.tiers)
    for name in ("latency_ms", "service_ms", "energy_j", "cost"):
        if getattr(inst, name) is not None and getattr(inst, name).shape != (n, k):
            raise InvalidInput(f"oracle instance: {name} must have shape ({n}, {k})")
    if inst.bucket_s <= 0:
        raise InvalidInput("oracle instance: bucket_s must be > 0")
    return n


def solve_oracle(
    inst: OracleInstance, *, max_requests: int = MAX_ORACLE_REQUESTS, time_limit_s: float = 60.0,
    stage2_gap: float = 1e-3,
) -> OracleResult:
    """Solve the two-stage MILP; refuses instances above ``max_requests`` with ``InvalidInput``.

    Stage 1 is solved exactly; stage 2 to a relative gap of ``stage2_gap`` (0.1%: the objective-aware costs made
    HiGHS' default 0.01% take minutes on 4,000-request instances). When stage 2 stops without a solution, stage 1's
    assignment is returned and ``status`` says so: its energy is then not the least."""
    n = _check(inst, max_requests)
    ok = np.isfinite(inst.latency_ms) & (inst.latency_ms <= inst.deadline_ms[:, None])
    rows, cols = np.nonzero(ok)  # one binary variable per (request, tier) that meets the deadline
    m = len(rows)
    if m == 0:
        return OracleResult(np.full(n, -1), 0, n, 0.0, "optimal")
    var = np.arange(m)
    # each request at most once
    a_req = csr_array((np.ones(m), (rows, var)), shape=(n, m))
    cons = [LinearConstraint(a_req, -np.inf, 1.0)]
    # capacity per (tier, bucket)
    bucket = np.floor((inst.arrival_s - inst.arrival_s.min()) / inst.bucket_s).astype(np.int64)
    nb = int(bucket.max()) + 1
    group = cols if inst.location is None else inst.location[rows, cols]
    ng = len(inst.slots)
    cap_row = group * nb + bucket[rows]
    a_cap = csr_array((inst.service_ms[rows, cols], (cap_row, var)), shape=(ng * nb, m))
    cap = np.repeat(np.asarray(inst.slots, dtype=float) * inst.bucket_s * 1000.0, nb)
    cons.append(LinearConstraint(a_cap, -np.inf, cap))
    energy = inst.energy_j[rows, cols]
    for tier, cap_j in (inst.energy_cap_j or {}).items():
        if tier in inst.tiers:
            sel = cols == inst.tiers.index(tier)
            cons.append(LinearConstraint(np.where(sel, energy, 0.0)[None, :], -np.inf, cap_j))
    integrality = np.ones(m)
    bounds = Bounds(0.0, 1.0)
    opts = {"time_limit": time_limit_s, "presolve": True}
    r1 = milp(-np.ones(m), constraints=cons, integrality=integrality, bounds=bounds, options=opts)
    if r1.x is None:
        raise InvalidInput(f"oracle: no solution within {time_limit_s:g} s ({r1.message})")
    met1 = int(round(-r1.fun))
    cons2 = cons + [LinearConstraint(np.ones((1, m)), met1 - 0.5, np.inf)]
    stage2 = energy if inst.cost is None else inst.cost[rows, cols]
    r2 = milp(stage2, constraints=cons2, integrality=integrality, bounds=bounds,
              options={**opts, "mip_rel_gap": stage2_gap})
    x = r2.x if r2.x is not None else r1.x
    chosen = x > 0.5
    assignment = np.full(n, -1, dtype=np.int64)
    assignment[rows[chosen]] = cols[chosen]
    status = "optimal" if (r1.status == 0 and r2.status == 0) else f"stopped: {r2.message}"
    return OracleResult(assignment, int(chosen.sum()), n, float(energy[chosen].sum()), status)


def _relative(x: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """Each row of ``x`` over its smallest value where ``ok`` (1.0 at the best tier), capped at
    ``STAGE2_COST_CAP``; rows with no ``ok`` entry are 1.0."""
    masked = np.where(ok, x, np.inf)
    best = masked.min(axis=1, keepdims=True)
    scale = np.where(np.isfinite(best), np.maximum(best, 1e-12 * np.maximum(np.abs(x).max(), 1e-12)), 1.0)
    return np.minimum(np.where(ok, x / scale, 1.0), STAGE2_COST_CAP)


def objective_costs(inst: OracleInstance, carbon_g: np.ndarray, objective: list[str],
                    balanced_weight: float = 0.5) -> np.ndarray:
    """Stage-2 costs that honour each request's objective, as the main policy ranks (``maas.routing.edge_aware``):
    ``latency`` latency / the request's fastest feasible tier's, ``energy`` and ``carbon`` the same with joules and
    grams, ``balanced`` ``w * latency / deadline + (1 - w) * energy / least feasible energy``. Normalising per
    request makes one request's cost comparable with another's when they compete for a slot."""
    n, k = inst.latency_ms.shape
    if len(objective) != n:
        raise InvalidInput(f"oracle instance: objective must have {n} entries")
    ok = np.isfinite(inst.latency_ms) & (inst.latency_ms <= inst.deadline_ms[:, None])
    lat = np.where(np.isfinite(inst.latency_ms), inst.latency_ms, 0.0)
    rel_lat, rel_e, rel_c = _relative(lat, ok), _relative(inst.energy_j, ok), _relative(carbon_g, ok)
    obj = np.asarray(objective)
    deadline = np.where(np.isfinite(inst.deadline_ms), inst.deadline_ms, np.nan)[:, None]
    by_deadline = np.where(np.isnan(deadline), rel_lat, lat / np.where(np.isnan(deadline), 1.0, deadline))
    balanced = balanced_weight * by_deadline + (1.0 - balanced_weight) * rel_e
    cost = np.where((obj == "latency")[:, None], rel_lat,
                    np.where((obj == "carbon")[:, None], rel_c,
                             np.where((obj == "balanced")[:, None], balanced, rel_e)))
    return np.ascontiguousarray(cost, dtype=float)
