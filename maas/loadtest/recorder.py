"""Per-request outcomes folded into HDR histograms and counters, per run, per model, per tier and per second.

For every request three durations are kept: latency (completion - intended send), service time (completion -
actual send) and dispatch lateness (actual send - intended send). Errors and timeouts are results: they are
recorded in the histograms like any request (a timeout at its timeout), counted as errors, and count as misses
in SLO attainment. Requests whose intended send time falls in the warm-up are counted but not recorded.

A worker process turns its ``Recorder`` into a plain ``dict`` with ``to_payload`` (histograms encoded); the
parent combines the workers' payloads with ``merge_payloads``.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from maas.loadtest import histograms as H

__all__ = ["Outcome", "Recorder", "merge_payloads", "BREAKDOWN_KEYS"]

BREAKDOWN_KEYS = ("uplink_ms", "queue_ms", "compute_ms", "downlink_ms", "platform_ms")


class Outcome:
    """What came back for one request: HTTP status (0 = connection error, -1 = timeout), response
    ``parameters`` (may be empty), body size and an error text."""

    __slots__ = ("status", "params", "nbytes", "error")

    def __init__(
        self, status: int, params: dict[str, Any] | None = None, nbytes: int = 0, error: str | None = None
    ) -> None:
        self.status = status
        self.params = params or {}
        self.nbytes = nbytes
        self.error = error

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


class _Group:
    """Counters and a latency histogram for one model or one tier."""

    def __init__(self) -> None:
        self.latency = H.new_histogram()
        self.count = 0
        self.errors = 0
        self.slo_n = 0
        self.slo_met = 0
        self.energy_j = 0.0
        self.energy_n = 0
        self.carbon_g = 0.0
        self.platform_met = 0
        self.platform_met_n = 0
        self.parts = dict.fromkeys(BREAKDOWN_KEYS, 0.0)
        self.parts_n = 0

    def to_payload(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k != "latency"}
        out["latency"] = H.encode(self.latency)
        return out


class Recorder:
    """Collects outcomes; times are seconds relative to the run start (intended offsets)."""

    def __init__(self, warmup_s: float = 0.0, window_s: float = 1.0) -> None:
        self.warmup_s = warmup_s
        self.window_s = window_s
        self.latency = H.new_histogram()
        self.service = H.new_histogram()
        self.lateness = H.new_histogram()
        self.refused = H.new_histogram()  # latency of fast refusals (503, 429) alone
        self.succeeded = H.new_histogram()  # latency of 2xx alone
        self.requests = 0
        self.errors = 0
        self.timeouts = 0
        self.warmup_requests = 0
        self.status_counts: dict[str, int] = defaultdict(int)
        self.error_samples: list[str] = []
        self.first_intended_s: float | None = None
        self.last_actual_s = 0.0
        self.last_done_s = 0.0
        self.models: dict[str, _Group] = defaultdict(_Group)
        self.tiers: dict[str, _Group] = defaultdict(_Group)
        self.windows: dict[int, dict[str, Any]] = {}
        self.slo_n = 0
        self.slo_met = 0

    def _window(self, intended_s: float) -> dict[str, Any]:
        w = int(intended_s // self.window_s)
        win = self.windows.get(w)
        if win is None:
            win = {
                "hist": H.new_histogram(2),
                "count": 0,
                "errors": 0,
                "energy_j": 0.0,
                "tiers": defaultdict(int),
                "lateness_max_ms": 0.0,
                "slo_n": 0,
                "slo_met": 0,
            }
            self.windows[w] = win
        return win

    def record(
        self, intended_s: float, actual_s: float, done_s: float, model: str, deadline_ms: float | None, outcome: Outcome
    ) -> None:
        """Fold one finished request in."""
        if intended_s < self.warmup_s:
            self.warmup_requests += 1
            return
        latency_s = done_s - intended_s
        lateness_s = actual_s - intended_s
        H.record_s(self.latency, latency_s)
        H.record_s(self.service, done_s - actual_s)
        H.record_s(self.lateness, lateness_s)
        self.requests += 1
        if self.first_intended_s is None or intended_s < self.first_intended_s:
            self.first_intended_s = intended_s
        self.last_actual_s = max(self.last_actual_s, actual_s)
        self.last_done_s = max(self.last_done_s, done_s)
        ok = outcome.ok
        self.status_counts[str(outcome.status)] += 1
        if ok:
            H.record_s(self.succeeded, latency_s)
        elif outcome.status in (429, 503):
            H.record_s(self.refused, latency_s)
        if not ok:
            self.errors += 1
            self.timeouts += outcome.status == -1
            if outcome.error and len(self.error_samples) < 5:
                self.error_samples.append(outcome.error[:300])
        met = None
        if deadline_ms is not None:
            met = ok and latency_s * 1000.0 <= deadline_ms
            self.slo_n += 1
            self.slo_met += met
        params = outcome.params
        tier = params.get("tier")
        groups = [self.models[model]]
        if isinstance(tier, str):
            groups.append(self.tiers[tier])
        energy = params.get("energy_j")
        energy = float(energy) if isinstance(energy, (int, float)) and not isinstance(energy, bool) else None
        carbon = params.get("carbon_g")
        platform_met = params.get("deadline_met")
        has_parts = all(isinstance(params.get(k), (int, float)) for k in BREAKDOWN_KEYS)
        for g in groups:
            H.record_s(g.latency, latency_s)
            g.count += 1
            g.errors += not ok
            if met is not None:
                g.slo_n += 1
                g.slo_met += met
            if energy is not None:
                g.energy_j += energy
                g.energy_n += 1
            if isinstance(carbon, (int, float)):
                g.carbon_g += float(carbon)
            if isinstance(platform_met, bool):
                g.platform_met_n += 1
                g.platform_met += platform_met
            if has_parts:
                g.parts_n += 1
                for k in BREAKDOWN_KEYS:
                    g.parts[k] += float(params[k])
        win = self._window(intended_s)
        H.record_s(win["hist"], latency_s)
        win["count"] += 1
        win["errors"] += not ok
        if energy is not None:
            win["energy_j"] += energy
        if isinstance(tier, str):
            win["tiers"][tier] += 1
        win["lateness_max_ms"] = max(win["lateness_max_ms"], lateness_s * 1000.0)
        if met is not None:
            win["slo_n"] += 1
            win["slo_met"] += met

    def to_payload(self) -> dict[str, Any]:
        """A picklable/JSON-able dict with encoded histograms (what a worker sends back)."""
        return {
            "latency": H.encode(self.latency),
            "service": H.encode(self.service),
            "lateness": H.encode(self.lateness),
            "refused": H.encode(self.refused),
            "succeeded": H.encode(self.succeeded),
            "requests": self.requests,
            "errors": self.errors,
            "timeouts": self.timeouts,
            "warmup_requests": self.warmup_requests,
            "status_counts": dict(self.status_counts),
            "error_samples": list(self.error_samples),
            "first_intended_s": self.first_intended_s,
            "last_actual_s": self.last_actual_s,
            "last_done_s": self.last_done_s,
            "slo_n": self.slo_n,
            "slo_met": self.slo_met,
            "models": {k: g.to_payload() for k, g in self.models.items()},
            "tiers": {k: g.to_payload() for k, g in self.tiers.items()},
            "windows": {
                str(w): {
                    **{k: v for k, v in win.items() if k not in ("hist", "tiers")},
                    "hist": H.encode(win["hist"]),
                    "tiers": dict(win["tiers"]),
                }
                for w, win in self.windows.items()
            },
        }


def _merge_groups(groups: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {"latency_hist": H.merge_encoded(g["latency"] for g in groups)}
    for key in (
        "count",
        "errors",
        "slo_n",
        "slo_met",
        "energy_j",
        "energy_n",
        "carbon_g",
        "platform_met",
        "platform_met_n",
        "parts_n",
    ):
        out[key] = sum(g[key] for g in groups)
    out["parts"] = {k: sum(g["parts"][k] for g in groups) for k in BREAKDOWN_KEYS}
    return out


def merge_payloads(payloads: list[dict[str, Any]]) -> dict[str, Any]:
    """Combine worker payloads: histograms decoded and added (``*_hist`` keys hold ``HdrHistogram``s)."""
    merged: dict[str, Any] = {
        "latency_hist": H.merge_encoded(p["latency"] for p in payloads),
        "service_hist": H.merge_encoded(p["service"] for p in payloads),
        "lateness_hist": H.merge_encoded(p["lateness"] for p in payloads),
        "refused_hist": H.merge_encoded(p["refused"] for p in payloads if "refused" in p),
        "succeeded_hist": H.merge_encoded(p["succeeded"] for p in payloads if "succeeded" in p),
    }
    for key in ("requests", "errors", "timeouts", "warmup_requests", "slo_n", "slo_met"):
        merged[key] = sum(p[key] for p in payloads)
    status: dict[str, int] = defaultdict(int)
    for p in payloads:
        for k, v in p["status_counts"].items():
            status[k] += v
    merged["status_counts"] = dict(status)
    merged["error_samples"] = [s for p in payloads for s in p["error_samples"]][:5]
    firsts = [p["first_intended_s"] for p in payloads if p["first_intended_s"] is not None]
    merged["first_intended_s"] = min(firsts) if firsts else None
    merged["last_actual_s"] = max((p["last_actual_s"] for p in payloads), default=0.0)
    merged["last_done_s"] = max((p["last_done_s"] for p in payloads), default=0.0)
    for kind in ("models", "tiers"):
        names = sorted({n for p in payloads for n in p[kind]})
        merged[kind] = {n: _merge_groups([p[kind][n] for p in payloads if n in p[kind]]) for n in names}
    windows: dict[int, dict[str, Any]] = {}
    for p in payloads:
        for w, win in p["windows"].items():
            acc = windows.setdefault(
                int(w),
                {
                    "hist": H.new_histogram(2),
                    "count": 0,
                    "errors": 0,
                    "energy_j": 0.0,
                    "tiers": defaultdict(int),
                    "lateness_max_ms": 0.0,
                    "slo_n": 0,
                    "slo_met": 0,
                },
            )
            acc["hist"].add(H.decode(win["hist"]))
            acc["count"] += win["count"]
            acc["errors"] += win["errors"]
            acc["energy_j"] += win["energy_j"]
            acc["lateness_max_ms"] = max(acc["lateness_max_ms"], win["lateness_max_ms"])
            acc["slo_n"] += win.get("slo_n", 0)
            acc["slo_met"] += win.get("slo_met", 0)
            for t, c in win["tiers"].items():
                acc["tiers"][t] += c
    merged["windows"] = dict(sorted(windows.items()))
    return merged
