"""Arrival schedules: when each request should be sent, precomputed from a seed before the run starts.

A ``Schedule`` is three aligned numpy arrays: ``offsets_s`` (intended send time, seconds after the start, sorted),
``entry`` (index into the request mix) and ``variant`` (which pre-encoded payload of that entry). Kinds:

- ``poisson``: exponential gaps at ``rate_rps`` (MLPerf Server scenario);
- ``constant``: one request every ``1/rate_rps`` seconds;
- ``gamma``: gamma gaps with mean ``1/rate_rps`` and coefficient of variation ``cv`` (cv > 1 is burstier than
  Poisson, cv = 1 is Poisson, cv < 1 is more regular);
- ``ramp``: a Poisson process whose rate moves linearly from ``rate_rps`` to ``rate_end_rps``;
- ``steps``: Poisson at each (duration_s, rate_rps) step in turn;
- ``trace``: timestamps read from a JSONL trace (see ``maas.loadtest.trace``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["ArrivalSpec", "Schedule", "build_schedule", "assign_requests", "ARRIVAL_KINDS"]

ARRIVAL_KINDS = ("poisson", "constant", "gamma", "ramp", "steps")


class ArrivalSpec(BaseModel):
    """How requests arrive in an open-loop run."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["poisson", "constant", "gamma", "ramp", "steps"] = "poisson"
    rate_rps: float = Field(50.0, gt=0, description="mean rate (start rate for ramp), requests per second")
    duration_s: float = Field(30.0, gt=0, description="length of the schedule in seconds (ignored by steps)")
    cv: float = Field(1.0, gt=0, description="gamma only: coefficient of variation of the gaps")
    rate_end_rps: float | None = Field(None, gt=0, description="ramp only: rate at the end")
    steps: list[tuple[float, float]] = Field(
        default_factory=list, description="steps only: (duration_s, rate_rps) pairs, in order"
    )

    @model_validator(mode="after")
    def _check(self) -> ArrivalSpec:
        if self.kind == "ramp" and self.rate_end_rps is None:
            raise ValueError("ramp needs rate_end_rps")
        if self.kind == "steps":
            if not self.steps:
                raise ValueError("steps needs at least one (duration_s, rate_rps) pair")
            if any(d <= 0 or r <= 0 for d, r in self.steps):
                raise ValueError("every step needs duration_s > 0 and rate_rps > 0")
        return self

    @property
    def total_duration_s(self) -> float:
        """Length of the whole schedule."""
        if self.kind == "steps":
            return float(sum(d for d, _ in self.steps))
        return self.duration_s

    @property
    def mean_rate_rps(self) -> float:
        """The nominal (expected) mean rate over the schedule."""
        if self.kind == "ramp":
            return (self.rate_rps + float(self.rate_end_rps or self.rate_rps)) / 2.0
        if self.kind == "steps":
            return sum(d * r for d, r in self.steps) / self.total_duration_s
        return self.rate_rps


@dataclass(frozen=True)
class Schedule:
    """Intended send offsets (s, sorted) with the mix entry and payload variant of each request."""

    offsets_s: np.ndarray
    entry: np.ndarray
    variant: np.ndarray
    duration_s: float
    nominal_rps: float

    def __len__(self) -> int:
        return int(self.offsets_s.size)

    def slice(self, worker: int, workers: int) -> Schedule:
        """The interleaved share of worker ``worker`` of ``workers`` (requests worker, worker+workers, ...)."""
        return Schedule(
            self.offsets_s[worker::workers].copy(),
            self.entry[worker::workers].copy(),
            self.variant[worker::workers].copy(),
            self.duration_s,
            self.nominal_rps / workers,
        )

    def rate_between(self, start_s: float, end_s: float) -> float:
        """Scheduled requests per second with intended times in [start_s, end_s)."""
        if end_s <= start_s:
            return 0.0
        lo, hi = np.searchsorted(self.offsets_s, [start_s, end_s], side="left")
        return float(hi - lo) / (end_s - start_s)


def _cumulative(gaps: np.ndarray, duration_s: float) -> np.ndarray:
    times = np.cumsum(gaps)
    return times[times < duration_s]


def _gaps(rng: np.random.Generator, kind: str, rate: float, duration_s: float, cv: float) -> np.ndarray:
    """Enough gaps to cover ``duration_s`` (drawn with headroom, then extended if ever short)."""
    n = int(rate * duration_s * 1.2 + 10 * np.sqrt(rate * duration_s) + 16)
    out = []
    total = 0.0
    while total < duration_s:
        if kind == "poisson":
            chunk = rng.exponential(1.0 / rate, n)
        elif kind == "gamma":
            shape = 1.0 / (cv * cv)
            chunk = rng.gamma(shape, 1.0 / (rate * shape), n)
        else:
            raise ValueError(kind)
        out.append(chunk)
        total += float(chunk.sum())
    return np.concatenate(out)


def _offsets(spec: ArrivalSpec, rng: np.random.Generator) -> np.ndarray:
    if spec.kind == "constant":
        period = 1.0 / spec.rate_rps
        return np.arange(0.0, spec.duration_s - 1e-12, period)
    if spec.kind in ("poisson", "gamma"):
        return _cumulative(_gaps(rng, spec.kind, spec.rate_rps, spec.duration_s, spec.cv), spec.duration_s)
    if spec.kind == "ramp":
        # Time rescaling: a unit-rate Poisson process in Lambda-space mapped through the inverse of
        # Lambda(t) = r0 t + (r1 - r0) t^2 / (2 D).
        r0, r1, dur = spec.rate_rps, float(spec.rate_end_rps), spec.duration_s
        total = (r0 + r1) / 2.0 * dur
        lam = _cumulative(_gaps(rng, "poisson", 1.0, total, 1.0), total)
        a = (r1 - r0) / (2.0 * dur)
        if abs(a) < 1e-12:
            return lam / r0
        return (-r0 + np.sqrt(r0 * r0 + 4.0 * a * lam)) / (2.0 * a)
    parts, start = [], 0.0
    for dur, rate in spec.steps:
        parts.append(start + _cumulative(_gaps(rng, "poisson", rate, dur, 1.0), dur))
        start += dur
    return np.concatenate(parts) if parts else np.zeros(0)


def assign_requests(
    n: int, weights: list[float], variants: list[int], rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Pick a mix entry (by weight) and a payload variant (uniformly) for each of ``n`` requests."""
    w = np.asarray(weights, dtype=float)
    entry = rng.choice(w.size, size=n, p=w / w.sum()).astype(np.int32)
    counts = np.asarray(variants, dtype=np.int64)
    variant = (rng.random(n) * counts[entry]).astype(np.int32)
    return entry, variant


def build_schedule(spec: ArrivalSpec, weights: list[float], variants: list[int], seed: int) -> Schedule:
    """The whole run's schedule, identical for the same spec, mix weights and seed."""
    rng = np.random.default_rng(seed)
    offsets = np.ascontiguousarray(_offsets(spec, rng), dtype=np.float64)
    entry, variant = assign_requests(offsets.size, weights, variants, rng)
    return Schedule(offsets, entry, variant, spec.total_duration_s, spec.mean_rate_rps)
