"""Comparing two results (A = baseline, B = candidate) with confidence intervals.

- Latency and service-time percentiles: bootstrap. Each result's HDR histogram is resampled as a multinomial
  over its recorded values (equivalent to resampling requests), the percentile is taken per resample, and the
  interval of the difference B - A is the central ``confidence`` share of the resampled differences.
- Error rate and SLO attainment: analytic (Wald) interval for a difference of two proportions.
- Rates and energy per request: the difference only (no per-request samples are stored).
A difference is ``significant`` when its interval excludes 0.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy.stats import norm

from maas.loadtest import histograms as H

__all__ = ["compare_results", "bootstrap_percentile_diff", "proportion_diff"]

_PCTS = {"p50": 50.0, "p90": 90.0, "p99": 99.0, "p999": 99.9}


def _resampled_percentiles(encoded: str, pcts: list[float], iterations: int, rng: np.random.Generator) -> np.ndarray:
    """Percentiles (columns) of ``iterations`` multinomial resamples (rows) of a histogram, in ms."""
    vals, counts = H.value_counts_ms(H.decode(encoded))
    n = int(counts.sum())
    if n == 0:
        return np.full((iterations, len(pcts)), np.nan)
    cum = np.cumsum(rng.multinomial(n, counts / n, size=iterations), axis=1)
    out = np.empty((iterations, len(pcts)))
    for j, pct in enumerate(pcts):
        target = max(1, math.ceil(pct / 100.0 * n))
        idx = (cum < target).sum(axis=1)
        out[:, j] = vals[np.minimum(idx, vals.size - 1)]
    return out


def _intervals(
    a_encoded: str, b_encoded: str, pcts: list[float], iterations: int, confidence: float, seed: int
) -> list[tuple[float, float]]:
    rng = np.random.default_rng(seed)
    diff = _resampled_percentiles(b_encoded, pcts, iterations, rng) - _resampled_percentiles(
        a_encoded, pcts, iterations, rng
    )
    alpha = (1.0 - confidence) / 2.0
    return [
        (float(np.nanquantile(diff[:, j], alpha)), float(np.nanquantile(diff[:, j], 1.0 - alpha)))
        for j in range(len(pcts))
    ]


def bootstrap_percentile_diff(
    a_encoded: str, b_encoded: str, pct: float, iterations: int = 1000, confidence: float = 0.95, seed: int = 0
) -> tuple[float, float]:
    """Interval (low, high) of percentile(B) - percentile(A) in ms."""
    return _intervals(a_encoded, b_encoded, [pct], iterations, confidence, seed)[0]


def proportion_diff(k_a: int, n_a: int, k_b: int, n_b: int, confidence: float = 0.95) -> tuple[float, float, float]:
    """(difference, low, high) of k_b/n_b - k_a/n_a with a Wald interval."""
    pa, pb = k_a / n_a, k_b / n_b
    z = float(norm.ppf(0.5 + confidence / 2.0))
    se = math.sqrt(pa * (1 - pa) / n_a + pb * (1 - pb) / n_b)
    d = pb - pa
    return d, d - z * se, d + z * se


def _row(metric: str, a: Any, b: Any, low: float | None, high: float | None, method: str) -> dict[str, Any]:
    diff = b - a if a is not None and b is not None else None
    sig = low is not None and high is not None and (low > 0 or high < 0)
    rel = diff / a if diff is not None and a else None
    return {
        "metric": metric,
        "a": a,
        "b": b,
        "diff": diff,
        "rel_diff": rel,
        "ci_low": low,
        "ci_high": high,
        "significant": bool(sig),
        "method": method,
    }


def compare_results(
    a: dict[str, Any], b: dict[str, Any], iterations: int = 1000, confidence: float = 0.95, seed: int = 0
) -> dict[str, Any]:
    """Differences B - A, with intervals where the data allows, and warnings about comparability."""
    sa, sb = a["summary"], b["summary"]
    rows = []
    for kind in ("latency", "service"):
        have = all(s[f"{kind}_ms"]["p50"] is not None for s in (sa, sb))
        cis = (
            _intervals(a["hdr"][kind], b["hdr"][kind], list(_PCTS.values()), iterations, confidence, seed)
            if have
            else []
        )
        for j, key in enumerate(_PCTS):
            low, high = cis[j] if have else (None, None)
            rows.append(_row(f"{kind}_{key}_ms", sa[f"{kind}_ms"][key], sb[f"{kind}_ms"][key], low, high, "bootstrap"))
    for metric in ("error_rate", "slo_attainment"):
        va, vb = sa.get(metric), sb.get(metric)
        na, nb = sa["requests"], sb["requests"]
        if va is None or vb is None or not na or not nb:
            rows.append(_row(metric, va, vb, None, None, "n/a"))
            continue
        _, low, high = proportion_diff(round(va * na), na, round(vb * nb), nb, confidence)
        rows.append(_row(metric, va, vb, low, high, "wald"))
    for metric in ("achieved_rps", "throughput_rps", "energy_j_per_request", "energy_j_per_success"):
        rows.append(_row(metric, sa.get(metric), sb.get(metric), None, None, "difference only"))
    warnings = []
    if sa["mode"] != sb["mode"]:
        warnings.append(f"modes differ ({sa['mode']} vs {sb['mode']}): latencies are not comparable")
    for name, s in (("A", sa), ("B", sb)):
        if s["partial"]:
            warnings.append(f"{name} is partial (interrupted)")
        if s["verdict"] != "VALID":
            warnings.append(f"{name} is {s['verdict']}: its generator did not prove it kept up")
    return {
        "confidence": confidence,
        "iterations": iterations,
        "rows": rows,
        "warnings": warnings,
        "a": {"url": a["config"].get("url"), "started_at": a.get("started_at")},
        "b": {"url": b["config"].get("url"), "started_at": b.get("started_at")},
    }
