"""Sim-to-real with dynamic batching: measure each batching (model, tier)'s batch profile live, and give the
simulator the same batchers (``maas.sim.engine.EngineInput.batching``).

1. ``batching_limits``: the (model, tier) pairs the scenario's topology asks to batch, with their limits.
2. ``batch_priming_rows``: bursts of requests pinned to each of those pairs, all of a burst sent at once, so the
   worker runs batches of several sizes (its batcher collects what arrives together) during priming.
3. ``measured_batch_profile``: ``{model: {tier: {batch size: median host ms of the batch}}}`` from the
   ``batch_size``/``batch_host_ms`` the gateway reports (priming and warm-up). A pair that never reported a batch
   size does not batch live (its variant refused it): it is simulated unbatched.
4. ``batch_models``: the engine's ``BatchModel`` per (model index, tier) from the limits and the measured profile.
5. ``batching_report``: what the check reports of it (limits, profiles, requests per batch size on both sides).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from maas.errors import ConfigError
from maas.placement import BatchModel
from maas.simlive.replay import LiveRun
from maas.tiers import Topology

__all__ = ["batching_limits", "batch_priming_rows", "measured_batch_profile", "batch_models", "batching_report"]


def batching_limits(topology: Topology, models: list[str]) -> dict[str, dict[str, tuple[int, float]]]:
    """``{model: {tier: (max_batch_size, max_queue_delay_ms)}}`` of every pair the topology batches."""
    out: dict[str, dict[str, tuple[int, float]]] = {}
    for m in models:
        for t, spec in topology.tiers.items():
            b = spec.batching.for_model(m)
            if b.max_batch_size > 1:
                out.setdefault(m, {})[t] = (b.max_batch_size, b.max_queue_delay_ms)
    return out


def batch_priming_rows(limits: dict[str, dict[str, tuple[int, float]]], sites: list[str], *, repeats: int = 3,
                       gap_s: float = 0.08, start_s: float = 0.0) -> list[dict[str, Any]]:
    """Bursts of 2, 4, ... up to ``max_batch_size`` requests pinned to each batching pair, ``repeats`` of each,
    a burst every ``gap_s`` from ``start_s``; every request of a burst is due at the same time and sent from the
    same site (one link: they reach the worker together), each burst from the next site in turn (so the pair is
    reached from the sites that have its access)."""
    rows, t, burst = [], start_s, 0
    for m, by in limits.items():
        for tier, (largest, _delay) in by.items():
            sizes = sorted({*(2**i for i in range(1, largest.bit_length()) if 2**i <= largest), largest})
            for _ in range(repeats):
                for size in sizes:
                    site = sites[burst % len(sites)]
                    rows.extend({"t_s": round(t, 6), "model": m, "tenant": "priming", "tier": tier, "site": site}
                                for _ in range(size))
                    t += gap_s
                    burst += 1
    return rows


def measured_batch_profile(*runs: tuple[list[dict[str, Any]], LiveRun]) -> dict[str, dict[str, dict[int, float]]]:
    """``{model: {tier: {batch size: median batch host ms}}}`` over the answered, batched requests of the runs."""
    seen: dict[str, dict[str, dict[int, list[float]]]] = {}
    for rows, run in runs:
        for row, o in zip(rows, run.outcomes, strict=True):
            if o.ok and o.tier is not None and o.batch_size is not None and o.batch_host_ms is not None:
                seen.setdefault(row["model"], {}).setdefault(o.tier, {}).setdefault(o.batch_size, []).append(
                    o.batch_host_ms)
    return {m: {t: {n: round(float(np.median(v)), 4) for n, v in sorted(sizes.items())} for t, sizes in by.items()}
            for m, by in seen.items()}


def batch_models(limits: dict[str, dict[str, tuple[int, float]]], profile: dict[str, dict[str, dict[int, float]]],
                 models: list[str], file: str) -> dict[tuple[int, str], BatchModel]:
    """The engine's batchers: every pair that batched live (it reported batch sizes), with the scenario
    topology's limits and the measured profile. A pair that batched live but that the scenario's topology does not
    batch is a different experiment: ``ConfigError``."""
    out = {}
    for m, by in profile.items():
        for tier, sizes in by.items():
            limit = limits.get(m, {}).get(tier)
            if limit is None:
                raise ConfigError(file, "topology", f"the live platform batches {m} on {tier} but the scenario's "
                                  "topology does not", "start the platform with the scenario's topology")
            if m in models:
                out[(models.index(m), tier)] = BatchModel(limit[0], limit[1], sizes)
    return out


def batching_report(limits: dict[str, dict[str, tuple[int, float]]], profile: dict[str, dict[str, dict[int, float]]],
                    live: LiveRun, record: Any) -> dict[str, Any]:
    """For the check's report: the pairs the scenario's topology batches, the profiles measured live, and how
    many requests of the batching pairs ran in a batch of each size, live (answered ones) and simulated."""
    live_counts = Counter(o.batch_size for o in live.outcomes if o.ok and o.batch_size is not None)
    sim_counts = Counter()
    for n in record.batch_sizes or []:
        sim_counts[n] += n
    return {"limits": limits, "profile_ms": profile, "requests_by_batch_size": {
        "live": dict(sorted(live_counts.items())), "sim": dict(sorted(sim_counts.items()))}}
