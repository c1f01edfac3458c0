"""Figures of one run (per policy) in the keys ``maas sim -o json`` reports."""

from __future__ import annotations

import numpy as np

from maas.sim.engine import RunRecord

__all__ = ["METRIC_KEYS", "summarise", "summarise_assignment", "objective_figures"]

METRIC_KEYS = (
    "slo_attainment",
    "goodput_rps",
    "p50_ms",
    "p95_ms",
    "p99_ms",
    "energy_j_per_request",
    "energy_j_per_success",
    "carbon_g_per_request",
    "tier_share",
    "min_battery_soc",
    "dropped",
    "decision_us_p99",
)


def _pct(values: np.ndarray, q: float) -> float | None:
    return None if len(values) == 0 else round(float(np.percentile(values, q)), 3)


def _share(tier_idx: np.ndarray, tiers: list[str]) -> dict[str, float]:
    served = tier_idx[tier_idx >= 0]
    total = len(served)
    return {t: (round(float((served == k).sum()) / total, 4) if total else 0.0) for k, t in enumerate(tiers)}


def summarise(rec: RunRecord, tiers: list[str], duration_s: float) -> dict:
    """The report of one run. Attainment counts every request (dropped and failed ones miss); latency
    percentiles are over completed requests; ``tier_share`` is over dispatched requests; ``dropped`` counts
    requests rejected before dispatch or lost during service."""
    n = len(rec.tier)
    met = int(rec.met.sum())
    energy = float(rec.energy_j.sum())
    lat = rec.latency_ms[~np.isnan(rec.latency_ms)]
    dropped = int((rec.tier < 0).sum() + rec.failed.sum())
    return {
        **_figures(n, met, energy, float(rec.carbon_g.sum()), lat, duration_s),
        "tier_share": _share(rec.tier, tiers),
        "min_battery_soc": None if rec.min_battery_soc is None else round(rec.min_battery_soc, 4),
        "dropped": dropped,
        "decision_us_p99": round(float(np.percentile(rec.decision_ns, 99)) / 1000.0, 3) if n else 0.0,
    }


def summarise_assignment(assignment: np.ndarray, latency_ms: np.ndarray, energy_j: np.ndarray,
                         carbon_g: np.ndarray, deadline_ms: np.ndarray, tiers: list[str], duration_s: float) -> dict:
    """The oracle's figures from its assignment (latencies without queueing: a bound)."""
    n = len(assignment)
    idx = np.nonzero(assignment >= 0)[0]
    k = assignment[idx]
    lat = latency_ms[idx, k]
    met = int((lat <= deadline_ms[idx]).sum())
    energy = float(energy_j[idx, k].sum())
    return {
        **_figures(n, met, energy, float(carbon_g[idx, k].sum()), lat, duration_s),
        "tier_share": _share(assignment, tiers),
        "min_battery_soc": None,
        "dropped": int(n - len(idx)),
        "decision_us_p99": None,
    }


def _figures(n: int, met: int, energy_j: float, carbon_g: float, lat: np.ndarray, duration_s: float) -> dict:
    """The figures every summary shares: attainment, goodput, latency percentiles, energy and carbon per request."""
    return {
        "slo_attainment": round(met / n, 5) if n else 1.0,
        "goodput_rps": round(met / duration_s, 3),
        "p50_ms": _pct(lat, 50),
        "p95_ms": _pct(lat, 95),
        "p99_ms": _pct(lat, 99),
        "energy_j_per_request": round(energy_j / n, 6) if n else 0.0,
        "energy_j_per_success": round(energy_j / met, 6) if met else None,
        "carbon_g_per_request": round(carbon_g / n, 8) if n else 0.0,
    }


def objective_figures(rec: RunRecord, tenant: np.ndarray, tenant_objective: list[str]) -> dict[str, dict]:
    """Per tenant objective present (latency, energy, carbon, balanced): requests, SLO attainment, mean latency
    of completed requests, energy and carbon per request: how each group fared on what it asked for."""
    objective = np.asarray(tenant_objective)[tenant] if len(tenant) else np.array([], dtype=str)
    out: dict[str, dict] = {}
    for name in dict.fromkeys(tenant_objective):
        mine = objective == name
        n = int(mine.sum())
        if not n:
            continue
        lat = rec.latency_ms[mine]
        lat = lat[~np.isnan(lat)]
        out[name] = {"requests": n, "slo_attainment": round(float(rec.met[mine].sum()) / n, 5),
                     "mean_latency_ms": round(float(lat.mean()), 3) if len(lat) else None,
                     "energy_j_per_request": round(float(rec.energy_j[mine].sum()) / n, 7),
                     "carbon_g_per_request": round(float(rec.carbon_g[mine].sum()) / n, 9)}
    return out
