"""Sweeps: a grid of parameter values x scenarios x seeds, one replication per cell, figures with 95% intervals.

Pure logic, no Ray (``maas.serving.sweep_runner`` runs ``run_replication`` as Ray tasks; ``run_local`` here runs
them in this process):
1. ``parse_vary(["epsilon=0.01,0.05", ...])`` checks every key against ``sweep_keys(tiers)`` and every value.
2. ``expand(scenarios, vary, seeds)`` -> one self-contained, picklable task per (scenario, grid point, seed).
3. ``run_replication(task)`` prepares the scenario with the point applied and the seed, runs the policies (and
   the oracle if asked) and returns their figures.
4. ``aggregate(results)`` groups by (scenario, point, policy): mean and a 95% Student-t interval across seeds for
   every figure; ``pareto(rows)`` marks the points no other point beats on both attainment and energy.

Sweep keys: the main policy's options (``epsilon``, ``lyapunov_v`` ...), scenario fields (``rate_rps``, ``cv``,
``duration_s`` ...) and ``replicas.<tier>`` (replicas per tier location, 0: the scenario without that tier: the slots ``maas plan``
searches).
"""

from __future__ import annotations

import inspect
import itertools
import math
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import stats

from maas.errors import ConfigError
from maas.routing import MAIN_POLICY, EdgeAwarePolicy
from maas.sim.runner import prepare, run
from maas.sim.scenario import ScenarioSpec

__all__ = ["SweepScenario", "sweep_keys", "parse_vary", "expand", "run_replication", "run_local", "aggregate",
           "pareto", "FIGURES", "TIERS"]

TIERS = ("base-station", "optical-access", "ground", "satellite")
FIGURES = ("slo_attainment", "energy_j_per_success", "energy_j_per_request", "p99_ms", "goodput_rps")
_SCENARIO_KEYS = {"rate_rps": ("workload", "rate_rps"), "cv": ("workload", "cv"), "duration_s": ("duration_s",),
                  "compute_cv": ("compute_cv",), "platform_ms": ("platform_ms",),
                  "estimate_bias": ("estimate_bias",), "estimate_refresh_s": ("estimate_refresh_s",),
                  "site_count": ("site_count",)}
_NOT_SWEPT = {"self", "clock", "energy_budget_w", "default_objective"}


def _policy_keys() -> list[str]:
    return [p for p in inspect.signature(EdgeAwarePolicy.__init__).parameters if p not in _NOT_SWEPT]


def sweep_keys(tiers: tuple[str, ...] = TIERS) -> list[str]:
    """Every key ``--vary`` accepts."""
    return _policy_keys() + list(_SCENARIO_KEYS) + [f"replicas.{t}" for t in tiers]


def _number(text: str) -> float | int | bool:
    t = text.strip()
    if t.lower() in ("true", "false"):
        return t.lower() == "true"
    try:
        return int(t)
    except ValueError:
        return float(t)


def parse_vary(items: list[str], tiers: tuple[str, ...] = TIERS) -> dict[str, list]:
    """``["key=v1,v2", ...]`` -> ``{key: [v1, v2]}``; ConfigError("--vary", key, problem, allowed) when wrong."""
    allowed = sweep_keys(tiers)
    out: dict[str, list] = {}
    for item in items:
        key, sep, values = item.partition("=")
        key = key.strip()
        if not sep or not values.strip():
            raise ConfigError("--vary", item, "not key=v1,v2,...", "key=v1,v2 with key one of " + ", ".join(allowed))
        if key not in allowed:
            raise ConfigError("--vary", key, "unknown sweep key", ", ".join(allowed))
        try:
            vals = [_number(v) for v in values.split(",") if v.strip()]
        except ValueError:
            raise ConfigError("--vary", key, f"{values!r} are not numbers", "numbers, comma-separated") from None
        if key.startswith("replicas.") and any((not isinstance(v, int)) or v < 0 for v in vals):
            raise ConfigError("--vary", key, f"{values!r} are not whole numbers >= 0", "integers >= 0 (0: no tier)")
        out[key] = vals
    return out


@dataclass
class SweepScenario:
    """A scenario as a task carries it: the spec (topology path absolute), extra files, its display name."""

    name: str
    spec: dict
    files: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_file(cls, path: Path) -> SweepScenario:
        from maas.sim.scenario import load_scenario

        spec = load_scenario(path)
        if spec.topology is not None:
            spec.topology = str((path.parent / spec.topology).resolve())
        w = spec.workload
        if w.trace_file is not None:
            w.trace_file = str((path.parent / w.trace_file).resolve())
        return cls(spec.name, spec.model_dump(mode="json"))


def expand(scenarios: list[SweepScenario], vary: dict[str, list], seeds: int, *,
           policies: list[str] | None = None, oracle: bool = False) -> list[dict]:
    """One task per (scenario, grid point, seed); K = ``seeds`` >= 1 and at least one scenario."""
    if seeds < 1:
        raise ConfigError("--seeds", "seeds", f"{seeds} is not >= 1", ">= 1")
    if not scenarios:
        raise ConfigError("--generate", "scenarios", "none", "--scenario FILE or --generate N >= 1")
    keys = list(vary)
    grid = [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*(vary[k] for k in keys))] or [{}]
    return [{"scenario": s.name, "spec": s.spec, "files": s.files, "point": point, "seed": k,
             "policies": policies or [MAIN_POLICY], "oracle": oracle}
            for s in scenarios for point in grid for k in range(seeds)]


def _apply(spec: dict, point: dict) -> dict:
    spec = {**spec, "workload": dict(spec["workload"]), "replicas": dict(spec.get("replicas") or {}),
            "policy_options": {k: dict(v) for k, v in (spec.get("policy_options") or {}).items()}}
    for key, value in point.items():
        if key.startswith("replicas."):
            tier = key.split(".", 1)[1]
            if int(value) == 0:  # the scenario without this tier (and without its faults)
                spec["tiers"] = [t for t in (spec.get("tiers") or TIERS) if t != tier]
                spec["faults"] = [f for f in spec.get("faults") or [] if (f.get("tier") or "satellite") != tier]
                spec["replicas"].pop(tier, None)
            else:
                spec["replicas"][tier] = int(value)
        elif key in _SCENARIO_KEYS:
            path = _SCENARIO_KEYS[key]
            target = spec
            for p in path[:-1]:
                target = target[p]
            target[path[-1]] = value
        else:
            spec["policy_options"].setdefault(MAIN_POLICY, {})[key] = value
    return spec


def run_replication(task: dict) -> dict:
    """Run one (scenario, point, seed); returns the task's identity and ``{policy: figures}``."""
    spec = ScenarioSpec.model_validate(_apply(task["spec"], task["point"]))
    with tempfile.TemporaryDirectory(prefix="maas-sweep-") as tmp:
        for fname, text in task["files"].items():
            (Path(tmp) / fname).write_text(text)
        prep = prepare(spec, str(Path(tmp) / f"{task['scenario']}.yaml"), policies=task["policies"],
                       seed=spec.seed + int(task["seed"]))
        results = run(prep, oracle=bool(task["oracle"]))
    figures = {}
    for name, r in results.items():
        if "slo_attainment" in r:
            figures[name] = {k: r[k] for k in FIGURES}
    return {"scenario": task["scenario"], "point": task["point"], "seed": task["seed"], "figures": figures,
            "requests": len(prep.inp.trace)}


def run_local(tasks: list[dict]) -> list[dict]:
    """Every task in this process, in order (tests; a machine without Ray)."""
    return [run_replication(t) for t in tasks]


def _interval(values: list[float]) -> dict:
    a = np.array([v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))], dtype=float)
    if len(a) == 0:
        return {"mean": None, "lo": None, "hi": None, "n": 0}
    mean = float(a.mean())
    if len(a) < 2:
        return {"mean": round(mean, 6), "lo": None, "hi": None, "n": 1}
    half = float(stats.t.ppf(0.975, len(a) - 1) * a.std(ddof=1) / math.sqrt(len(a)))
    return {"mean": round(mean, 6), "lo": round(mean - half, 6), "hi": round(mean + half, 6), "n": len(a)}


def aggregate(results: list[dict]) -> list[dict]:
    """Rows per (scenario, point, policy): each figure's mean and 95% interval across seeds."""
    groups: dict[tuple, list[dict]] = {}
    order: list[tuple] = []
    for r in results:
        for policy, fig in r["figures"].items():
            key = (r["scenario"], tuple(sorted(r["point"].items())), policy)
            if key not in groups:
                groups[key] = []
                order.append(key)
            groups[key].append(fig)
    rows = []
    for key in order:
        figs = groups[key]
        rows.append({"scenario": key[0], "point": dict(key[1]), "policy": key[2], "seeds": len(figs),
                     **{f: _interval([x[f] for x in figs]) for f in FIGURES}})
    return rows


def pareto(rows: list[dict], policy: str = MAIN_POLICY) -> list[dict]:
    """``rows`` of ``policy`` with ``pareto: True`` on the points no other point (same scenario) beats on both
    mean attainment (higher) and mean energy per success (lower)."""
    mine = [r for r in rows if r["policy"] == policy]
    out = []
    for r in mine:
        a, e = r["slo_attainment"]["mean"], r["energy_j_per_success"]["mean"]
        beaten = any(o is not r and o["scenario"] == r["scenario"]
                     and o["slo_attainment"]["mean"] is not None and o["energy_j_per_success"]["mean"] is not None
                     and a is not None and e is not None
                     and o["slo_attainment"]["mean"] >= a and o["energy_j_per_success"]["mean"] <= e
                     and (o["slo_attainment"]["mean"] > a or o["energy_j_per_success"]["mean"] < e)
                     for o in mine)
        out.append({**r, "pareto": not beaten})
    return out
