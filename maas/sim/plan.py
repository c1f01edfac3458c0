"""Capacity planning (``maas plan``): the fewest compute slots per tier that meet an attainment target, at the
least energy, by a search over sweeps.

1. ``candidates(tiers, max_replicas)``: every replicas-per-location vector (0 = the tier is not deployed, at least
   one tier deployed), ordered by total compute slots (replicas x the tier's slots x the scenario's locations of
   it), then by the vector.
2. ``search(scenario, target, run_batch)``: sweeps the candidates level by level (all vectors with the same total
   slots form one sweep of ``seeds`` replications each, run by ``run_batch``: Ray tasks or in-process). A vector
   meets the target when the lower end of its 95% interval across seeds (its mean with one seed) is >= target.
   The first level with a vector meeting it answers: its vector with the least mean energy per success.
3. ``check(answer)``: one more simulation at the answer, with a seed the search did not use.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass

from maas.clock import VirtualClock
from maas.errors import ConfigError
from maas.routing import MAIN_POLICY
from maas.sim.sweep import SweepScenario, aggregate, expand, run_replication

__all__ = ["Capacity", "capacity_of", "candidates", "search", "check", "PlanResult"]


@dataclass(frozen=True)
class Capacity:
    """Per tier: slots of one replica and how many locations of it the scenario's sites use."""

    slots: dict[str, int]
    locations: dict[str, int]

    def total(self, replicas: dict[str, int]) -> int:
        return sum(r * self.slots[t] * self.locations[t] for t, r in replicas.items())


@dataclass
class PlanResult:
    answer: dict[str, int] | None  # replicas per location by tier (0: not deployed); None: target not reachable
    slots: dict[str, int] | None  # compute slots per tier (all locations)
    total_slots: int | None
    attainment: dict | None  # mean and 95% interval across seeds at the answer
    energy_j_per_success: dict | None
    evaluated: list[dict]  # every vector tried: replicas, total slots, attainment, energy, meets


def capacity_of(scenario: SweepScenario) -> Capacity:
    """Slots per replica and locations in use, per tier, from the scenario's world."""
    from pathlib import Path

    from maas.sim.runner import _world
    from maas.sim.scenario import ScenarioSpec

    spec = ScenarioSpec.model_validate(scenario.spec)
    factory, tiers, sites = _world(spec, str(Path(spec.topology or ".").parent / "plan.yaml"))
    tiers = [t for t in tiers if spec.tiers is None or t in spec.tiers]
    if spec.site_count is not None:
        sites = sites[: spec.site_count]
    world = factory(VirtualClock(0.0))
    return Capacity({t: world.slots(t) for t in tiers},
                    {t: len({world.location(s, t) for s in sites}) for t in tiers})


def candidates(tiers: list[str], max_replicas: int, cap: Capacity) -> list[dict[str, int]]:
    """Every replicas vector with at least one tier deployed, fewest total slots first."""
    out = [dict(zip(tiers, combo, strict=True)) for combo in itertools.product(range(max_replicas + 1),
                                                                               repeat=len(tiers))]
    out = [c for c in out if any(c.values())]
    return sorted(out, key=lambda c: (cap.total(c), tuple(c.values())))


def _meets(row: dict, target: float) -> bool:
    a = row["slo_attainment"]
    value = a["lo"] if a["lo"] is not None else a["mean"]
    return value is not None and value >= target


def search(scenario: SweepScenario, target: float, run_batch: Callable[[list[dict]], list[dict]], *,
           tiers: list[str] | None = None, max_replicas: int = 2, seeds: int = 3,
           min_batch: int = 8) -> PlanResult:
    """The plan (see the module docstring); ``run_batch`` runs sweep tasks and returns their results."""
    if not 0.0 < target <= 1.0:
        raise ConfigError("plan", "--target-attainment", f"{target} is not in (0, 1]", "0 < target <= 1")
    if seeds < 1:
        raise ConfigError("plan", "--seeds", f"{seeds} is not >= 1", ">= 1")
    if max_replicas < 1:
        raise ConfigError("plan", "--max-replicas", f"{max_replicas} is not >= 1", ">= 1")
    cap = capacity_of(scenario)
    tiers = tiers or list(cap.slots)
    for t in tiers:
        if t not in cap.slots:
            raise ConfigError("plan", "--tiers", f"unknown tier {t!r}", ", ".join(cap.slots))
    cands = candidates(tiers, max_replicas, cap)
    evaluated: list[dict] = []
    i = 0
    while i < len(cands):
        level = cap.total(cands[i])
        batch: list[dict] = []
        while i < len(cands) and (cap.total(cands[i]) == level or len(batch) * seeds < min_batch):
            batch.append(cands[i])
            i += 1
        tasks = [t for c in batch for t in expand([scenario], {f"replicas.{k}": [v] for k, v in c.items()}, seeds)]
        rows = [r for r in aggregate(run_batch(tasks)) if r["policy"] == MAIN_POLICY]
        found = []
        for r in rows:
            vec = {k.split(".", 1)[1]: v for k, v in r["point"].items()}
            ok = _meets(r, target)
            evaluated.append({"replicas": vec, "total_slots": cap.total(vec), "slo_attainment": r["slo_attainment"],
                              "energy_j_per_success": r["energy_j_per_success"], "meets": ok})
            if ok:
                found.append(evaluated[-1])
        if found:
            least = min(e["total_slots"] for e in found)
            best = min((e for e in found if e["total_slots"] == least),
                       key=lambda e: e["energy_j_per_success"]["mean"] or float("inf"))
            vec = best["replicas"]
            return PlanResult(vec, {t: r * cap.slots[t] * cap.locations[t] for t, r in vec.items()}, least,
                              best["slo_attainment"], best["energy_j_per_success"], evaluated)
    return PlanResult(None, None, None, None, None, evaluated)


def check(scenario: SweepScenario, answer: dict[str, int], seed: int) -> dict:
    """One simulation of the main policy at ``answer`` with ``seed``: its figures."""
    (task,) = expand([scenario], {f"replicas.{k}": [v] for k, v in answer.items()}, 1)
    task["seed"] = seed
    return run_replication(task)["figures"][MAIN_POLICY]
