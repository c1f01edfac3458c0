"""The routing-quality suite: every policy and the oracle on generated scenarios, as ratios to the oracle.

Per scenario (``evaluate``): each policy's SLO attainment / the oracle's (its MILP bound), energy per success /
the oracle's, and which baselines *dominate* the main policy there (strictly higher attainment and strictly lower
energy per request, the rule of ``bench/bench_router.py``). Over scenarios (``aggregate``): per policy the median,
p10 and worst attainment ratio, the median, p90 and worst energy ratio, and on how many scenarios the policy
dominates the main one.

Two oracles share stage 1 (the most requests within deadline) and differ in stage 2: ``oracle`` then spends the
least energy on every request, whatever its tenant asked for (the yardstick issue 14 was filed with);
``oracle-objective`` honours each tenant's objective (``maas.routing.oracle.objective_costs``), so a ``latency``
tenant's requests go to its fastest tier there too. ``energy_vs_oracle`` is against the first,
``energy_vs_objective_oracle`` against the second: the part of the energy gap the tenants' own choices explain is the
difference between them.

The oracle and the baselines do not depend on the main policy's code, so their figures can be cached per
scenario (``cache_dir``: one JSON per scenario, keyed by the hash of its spec); the main policy always runs.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

import numpy as np

from maas.routing import MAIN_POLICY
from maas.sim.generate import GeneratedScenario
from maas.sim.runner import prepare, run

__all__ = ["evaluate", "aggregate", "dominators", "spec_hash"]


def spec_hash(g: GeneratedScenario) -> str:
    """A stable hash of the scenario's spec (without defaults: a new optional scenario field keeps the cache)
    and extra files."""
    text = g.spec.model_dump_json(exclude_defaults=True) + json.dumps(g.files, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def dominators(results: dict, main: str = MAIN_POLICY, *, objective_aware: bool = False) -> list[str]:
    """Policies with strictly higher attainment and strictly lower energy per request than ``main``.

    ``objective_aware``: and no worse for the tenants that asked for something else, by their own measure (the
    latency tenants' mean latency, the carbon tenants' carbon per request; ``by_objective`` of each result). A
    baseline that spends less by sending a latency tenant's requests to a slower tier does not dominate then."""
    m = results[main]
    out = []
    for name, r in results.items():
        if name == main or name.startswith("oracle") or "slo_attainment" not in r:
            continue
        if not (r["slo_attainment"] > m["slo_attainment"] and r["energy_j_per_request"] < m["energy_j_per_request"]):
            continue
        if objective_aware and not _no_worse_by_objective(r.get("by_objective") or {}, m.get("by_objective") or {}):
            continue
        out.append(name)
    return out


_OWN_MEASURE = {"latency": "mean_latency_ms", "carbon": "carbon_g_per_request"}


def _no_worse_by_objective(theirs: dict, ours: dict) -> bool:
    for objective, key in _OWN_MEASURE.items():
        a, b = (theirs.get(objective) or {}).get(key), (ours.get(objective) or {}).get(key)
        if a is not None and b is not None and a > b:
            return False
    return True


def _read_cache(path: Path | None) -> dict:
    if path is None or not path.exists():
        return {}
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _write_cache(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=str(path.parent), suffix=".json")
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh)
    os.replace(tmp, path)


def evaluate(g: GeneratedScenario, directory: Path, *, cache_dir: Path | None = None,
             policy_options: dict | None = None, main: str = MAIN_POLICY) -> dict:
    """Run every policy and the oracle on ``g`` (extra files written into ``directory``); the row of the suite."""
    file = g.materialise(directory)
    cache_path = None if cache_dir is None else cache_dir / f"{g.name}-{spec_hash(g)}.json"
    cached = _read_cache(cache_path)
    spec = g.spec.model_copy(deep=True)
    if policy_options:
        spec.policy_options = {**spec.policy_options, main: {**spec.policy_options.get(main, {}), **policy_options}}
    prep = prepare(spec, str(file))
    # a cached policy without by_objective predates it: run it again
    todo = [p for p in prep.policies if p == main or p not in cached or "by_objective" not in cached[p]]
    prep.policies = todo
    speeds: dict[str, float] = {}
    fresh = run(prep, oracle="oracle" not in cached, speeds=speeds,
                objective_oracle="oracle-objective" not in cached)
    results = {**{k: v for k, v in cached.items() if k != main}, **fresh}
    if cache_path is not None:
        _write_cache(cache_path, {k: v for k, v in results.items() if k != main})
    oracle, oracle_obj = results.get("oracle", {}), results.get("oracle-objective", {})
    row: dict = {"scenario": g.name, "traits": g.traits, "requests": len(prep.inp.trace),
                 "main_requests_per_s": speeds.get(main), "policies": {}}
    # an oracle stopped by its time limit has no least energy to compare with: those ratios are left out
    o_att = oracle.get("slo_attainment")
    o_e = oracle.get("energy_j_per_success") if oracle.get("status") == "optimal" else None
    oo_e = oracle_obj.get("energy_j_per_success") if oracle_obj.get("status") == "optimal" else None
    for key, o in (("oracle", oracle), ("oracle_objective", oracle_obj)):
        row[key] = {k: o.get(k) for k in ("slo_attainment", "energy_j_per_success", "status", "skipped")}
    for name, r in results.items():
        if name.startswith("oracle") or "slo_attainment" not in r:
            continue
        e = r["energy_j_per_success"]
        row["policies"][name] = {
            "slo_attainment": r["slo_attainment"], "energy_j_per_success": e,
            "energy_j_per_request": r["energy_j_per_request"],
            "attainment_vs_oracle": round(r["slo_attainment"] / o_att, 5) if o_att else None,
            "energy_vs_oracle": round(e / o_e, 5) if (o_e and e) else None,
            "energy_vs_objective_oracle": round(e / oo_e, 5) if (oo_e and e) else None,
            "tier_share": r["tier_share"],
        }
    row["dominated_by"] = dominators(results, main)
    row["dominated_by_objective_aware"] = dominators(results, main, objective_aware=True)
    return row


def _stats(values: list[float], worst_high: bool) -> dict:
    if not values:
        return {"n": 0}
    a = np.array(values)
    out = {"n": len(a), "median": round(float(np.median(a)), 4)}
    if worst_high:
        out.update(p90=round(float(np.percentile(a, 90)), 4), worst=round(float(a.max()), 4))
    else:
        out.update(p10=round(float(np.percentile(a, 10)), 4), worst=round(float(a.min()), 4))
    return out


def aggregate(rows: list[dict], main: str = MAIN_POLICY) -> dict:
    """Per policy: attainment/oracle (median, p10, worst), energy per success/oracle and /objective oracle
    (median, p90, worst each), and the scenarios on which it dominates the main policy."""
    names: list[str] = []
    for r in rows:
        names += [n for n in r["policies"] if n not in names]
    out: dict = {}
    for name in names:
        att = [r["policies"][name]["attainment_vs_oracle"] for r in rows
               if name in r["policies"] and r["policies"][name]["attainment_vs_oracle"] is not None]
        out[name] = {"attainment_vs_oracle": _stats(att, False),
                     **{key: _stats([r["policies"][name].get(key) for r in rows if name in r["policies"]
                                     and r["policies"][name].get(key) is not None], True)
                        for key in ("energy_vs_oracle", "energy_vs_objective_oracle")},
                     "dominates_main_on": [r["scenario"] for r in rows if name in r["dominated_by"]]}
    dominated = [r["scenario"] for r in rows if r["dominated_by"]]
    dominated_obj = [r["scenario"] for r in rows if r.get("dominated_by_objective_aware")]
    out["_main"] = {"policy": main, "scenarios": len(rows), "dominated_on": len(dominated),
                    "dominated_share": round(len(dominated) / len(rows), 4) if rows else 0.0,
                    "dominated_on_objective_aware": dominated_obj,
                    "oracle_stopped": {key: sum(1 for r in rows if r.get(key, {}).get("status") not in (None, "optimal"))
                                       for key in ("oracle", "oracle_objective")}}
    return out
