"""The decision-level diff of a sim-to-real run (``maas sim-live --explain N``, issue 16).

Both sides keep each request's decision: the live gateway answers a request that asks (``explain: true``) with the
``decision`` response parameter, and the engine keeps ``Placer.explain`` per request when
``EngineInput.explain``. Both are the same dict (``maas.placement.Placer.explain``): per tier, what the router
estimated (expected latency and its parts, the chance constraint's quantile, energy, carbon) and whether it was
feasible (else why not), plus the ranking. ``divergences`` lists the first requests the two routed differently,
each with both decisions side by side, so the next divergence is found from its estimates, not by guessing.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from maas.sim.engine import RunRecord
from maas.simlive.replay import RequestOutcome

__all__ = ["divergences", "divergence_summary"]


def _side(tier: str | None, decision: dict[str, Any] | None) -> dict[str, Any]:
    return {"tier": tier, "ranking": (decision or {}).get("ranking"), "tiers": (decision or {}).get("tiers")}


def divergences(rows: list[dict[str, Any]], outcomes: list[RequestOutcome], record: RunRecord, tiers: list[str],
                limit: int) -> list[dict[str, Any]]:
    """The first ``limit`` requests (trace order) answered on both sides whose live tier differs from the simulated
    one: the request (index, t_s, model, site, tenant, objective, deadline) and each side's tier and decision."""
    out: list[dict[str, Any]] = []
    decisions = record.decisions or [None] * len(rows)
    for i, (row, live) in enumerate(zip(rows, outcomes, strict=True)):
        if len(out) >= limit:
            break
        k = int(record.tier[i])
        if not live.ok or live.tier is None or k < 0 or tiers[k] == live.tier:
            continue
        out.append({
            "index": i, "t_s": round(row["t_s"], 4),
            "request": {key: row.get(key) for key in ("model", "site", "tenant", "objective", "deadline_ms", "strict")},
            "live": _side(live.tier, live.decision),
            "sim": _side(tiers[k], decisions[i]),
        })
    return out


def divergence_summary(outcomes: list[RequestOutcome], record: RunRecord, tiers: list[str]) -> dict[str, Any]:
    """How many requests answered on both sides went to another tier, by (live tier -> simulated tier)."""
    moves: Counter[str] = Counter()
    both = 0
    for i, live in enumerate(outcomes):
        k = int(record.tier[i])
        if not live.ok or live.tier is None or k < 0:
            continue
        both += 1
        if tiers[k] != live.tier:
            moves[f"{live.tier} -> {tiers[k]}"] += 1
    return {"answered_both": both, "routed_differently": sum(moves.values()),
            "moves_live_to_sim": dict(moves.most_common())}
