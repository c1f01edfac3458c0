"""The result of a run: the summary (what ``-o json`` prints) and the schema-versioned ``result.json``.

``result.json`` holds: ``schema``/``schema_version``, ``partial``, ``config``, ``seeds``, ``environment``,
``summary`` (with ``verdict``, validity ``checks`` and ``thresholds``), ``per_tier``, ``per_model``,
``timeseries`` (per window of intended send time) and ``hdr`` (HdrHistogram-encoded latency, service and
lateness histograms in microseconds, also per model and per tier).
"""

from __future__ import annotations

import json
import os
import platform
import socket
import sys
import tempfile
from importlib import metadata as md
from pathlib import Path
from typing import Any

from maas.errors import ConfigError
from maas.loadtest import histograms as H
from maas.loadtest.recorder import BREAKDOWN_KEYS

__all__ = [
    "SCHEMA",
    "SCHEMA_VERSION",
    "summarize",
    "timeseries",
    "environment",
    "build_result",
    "write_json_atomic",
    "load_result",
]

SCHEMA = "maas.loadtest.result"
SCHEMA_VERSION = 1


def _ratio(num: float, den: float) -> float | None:
    return round(num / den, 6) if den else None


def _group(name: str, g: dict[str, Any], total: int) -> dict[str, Any]:
    out: dict[str, Any] = {
        "requests": g["count"],
        "share": _ratio(g["count"], total),
        "errors": g["errors"],
        "latency_ms": H.summarize_ms(g["latency_hist"]),
        "slo_attainment": _ratio(g["slo_met"], g["slo_n"]),
        "platform_deadline_met": _ratio(g["platform_met"], g["platform_met_n"]),
        "energy_j_per_request": _ratio(g["energy_j"], g["energy_n"]),
        "energy_j_total": round(g["energy_j"], 6),
        "carbon_g_per_request": _ratio(g["carbon_g"], g["energy_n"]) if g["energy_n"] else None,
    }
    if g["parts_n"]:
        out["breakdown_ms"] = {k: round(g["parts"][k] / g["parts_n"], 4) for k in BREAKDOWN_KEYS}
    return out


def summarize(
    merged: dict[str, Any],
    *,
    mode: str,
    partial: bool,
    target_rps: float | None,
    schedule_rate: Any,
    duration_s: float,
    warmup_s: float,
    abandoned: int = 0,
) -> dict[str, Any]:
    """The run's figures from merged recorder data. ``schedule_rate(start_s, end_s)`` gives the schedule's
    rate over a window (``None`` for closed loop)."""
    requests = merged["requests"]
    if mode == "open-loop":
        end_s = merged["last_actual_s"] if partial else max(duration_s, merged["last_actual_s"])
    else:
        end_s = min(duration_s, merged["last_done_s"]) if partial else duration_s
    measured_s = max(end_s - warmup_s, 0.0)
    scheduled = schedule_rate(warmup_s, end_s) if schedule_rate is not None and measured_s > 0 else None
    ok = requests - merged["errors"]
    tiers, models = merged["tiers"], merged["models"]
    energy_n = sum(g["energy_n"] for g in models.values())
    energy_j = sum(g["energy_j"] for g in models.values())
    carbon_g = sum(g["carbon_g"] for g in models.values())
    met = sum(g["platform_met"] for g in models.values())
    met_n = sum(g["platform_met_n"] for g in models.values())
    return {
        "mode": mode,
        "partial": partial,
        "verdict": None,
        "target_rps": target_rps,
        "scheduled_rps": round(scheduled, 4) if scheduled is not None else None,
        "achieved_rps": round(requests / measured_s, 4) if measured_s else 0.0,
        "throughput_rps": round(ok / measured_s, 4) if measured_s else 0.0,
        "requests": requests,
        "errors": merged["errors"],
        "timeouts": merged["timeouts"],
        "error_rate": _ratio(merged["errors"], requests),
        "abandoned": abandoned,
        "warmup_requests": merged["warmup_requests"],
        "warmup_s": warmup_s,
        "measured_s": round(measured_s, 4),
        "latency_ms": H.summarize_ms(merged["latency_hist"]),
        "service_ms": H.summarize_ms(merged["service_hist"]),
        "lateness_ms": H.summarize_ms(merged["lateness_hist"]),
        "refused_ms": H.summarize_ms(merged["refused_hist"]),  # 503/429 alone: are refusals fast?
        "succeeded_ms": H.summarize_ms(merged["succeeded_hist"]),  # 2xx alone
        "slo_attainment": _ratio(merged["slo_met"], merged["slo_n"]),
        "slo_requests": merged["slo_n"],
        "slo_met": merged["slo_met"],
        # responses within their deadline per second (2xx per second when no request has a deadline)
        "goodput_rps": round((merged["slo_met"] if merged["slo_n"] else ok) / measured_s, 4) if measured_s else 0.0,
        "platform_deadline_met": _ratio(met, met_n),
        "energy_j_per_request": _ratio(energy_j, energy_n),
        "energy_j_per_success": _ratio(energy_j, ok) if energy_n else None,
        "carbon_g_per_request": _ratio(carbon_g, energy_n) if energy_n else None,
        "status_counts": merged["status_counts"],
        "error_samples": merged["error_samples"],
        "per_tier": {n: _group(n, g, requests) for n, g in tiers.items()},
        "per_model": {n: _group(n, g, requests) for n, g in models.items()},
    }


def timeseries(merged: dict[str, Any], window_s: float) -> dict[str, Any]:
    """Per-window series (by intended send time) for plots."""
    wins = merged["windows"]
    keys = sorted(wins)
    tiers = sorted({t for w in wins.values() for t in w["tiers"]})
    out: dict[str, Any] = {"window_s": window_s, "t_s": [k * window_s for k in keys]}
    out["count"] = [wins[k]["count"] for k in keys]
    out["errors"] = [wins[k]["errors"] for k in keys]
    pcts = [H.percentiles_us(wins[k]["hist"], [50.0, 99.0]) for k in keys]
    out["p50_ms"] = [p[0] / 1000.0 for p in pcts]
    out["p99_ms"] = [p[1] / 1000.0 for p in pcts]
    out["max_ms"] = [wins[k]["hist"].get_max_value() / 1000.0 for k in keys]
    out["lateness_max_ms"] = [round(wins[k]["lateness_max_ms"], 4) for k in keys]
    out["energy_j"] = [round(wins[k]["energy_j"], 6) for k in keys]
    # SLO attainment of the window's requests that carried a deadline (None: none did)
    out["attainment"] = [wins[k]["slo_met"] / wins[k]["slo_n"] if wins[k].get("slo_n") else None for k in keys]
    out["tiers"] = {t: [wins[k]["tiers"].get(t, 0) for k in keys] for t in tiers}
    return out


def environment() -> dict[str, Any]:
    """Where the generator ran (for reproducibility)."""
    versions = {}
    for pkg in ("aiohttp", "uvloop", "hdrhistogram", "numpy"):
        try:
            versions[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            versions[pkg] = None
    try:
        load = os.getloadavg()
    except OSError:
        load = None
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "hostname": socket.gethostname(),
        "cpu_count": os.cpu_count(),
        "loadavg_at_end": load,
        "packages": versions,
    }


def build_result(
    *,
    config: dict[str, Any],
    seeds: dict[str, int],
    summary: dict[str, Any],
    merged: dict[str, Any],
    window_s: float,
    started_at: str,
    notes: list[str],
) -> dict[str, Any]:
    """The complete ``result.json`` document."""
    hdr = {
        "unit": "us",
        "encoding": "HdrHistogram compressed base64 (hdrhistogram.HdrHistogram.encode)",
        "latency": H.encode(merged["latency_hist"]),
        "service": H.encode(merged["service_hist"]),
        "lateness": H.encode(merged["lateness_hist"]),
        "per_model": {n: H.encode(g["latency_hist"]) for n, g in merged["models"].items()},
        "per_tier": {n: H.encode(g["latency_hist"]) for n, g in merged["tiers"].items()},
    }
    return {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "partial": summary["partial"],
        "started_at": started_at,
        "config": config,
        "seeds": seeds,
        "environment": environment(),
        "summary": {k: v for k, v in summary.items() if k not in ("per_tier", "per_model")},
        "per_tier": summary["per_tier"],
        "per_model": summary["per_model"],
        "timeseries": timeseries(merged, window_s),
        "hdr": hdr,
        "notes": notes,
    }


def write_json_atomic(path: str | Path, doc: Any) -> None:
    """Write JSON to a temp file in the same directory, then rename over ``path``."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", dir=p.parent)
    try:
        os.chmod(tmp, 0o644)
        with os.fdopen(fd, "w") as fh:
            json.dump(doc, fh, indent=1)
        os.replace(tmp, p)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_result(path: str | Path) -> dict[str, Any]:
    """Read and check a ``result.json``; ``ConfigError`` when it is not one."""
    p = Path(path)
    try:
        doc = json.loads(p.read_text())
    except FileNotFoundError:
        raise ConfigError(str(p), "-", "file not found") from None
    except ValueError as exc:
        raise ConfigError(str(p), "-", f"not JSON: {exc}") from None
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
        raise ConfigError(str(p), "schema", "not a maas load-test result", SCHEMA)
    if doc.get("schema_version") != SCHEMA_VERSION:
        raise ConfigError(str(p), "schema_version", f"unsupported {doc.get('schema_version')!r}", str(SCHEMA_VERSION))
    return doc
