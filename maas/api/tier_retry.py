"""Retry on another tier when the chosen one fails (issue 17: a kill -9 of a model replica loses no request).

A ``TierBackend`` raises ``NotReady`` when the tier cannot run a request (its deployment is gone, its replica died
mid-request, its queue is full); an attempt that does not answer within ``attempt_timeout_s`` (twice the deadline,
at least 0.5 s; 5 s without a deadline: a replica killed mid-request can leave its callers waiting) counts as the
same failure. ``run_on_tier`` then places the request again among the tiers that have not failed
it, when it may move: not pinned, fewer than ``max_retries`` failures, and its deadline (if any) not yet spent. A
request that cannot move gets the failure's 503 (a fast, explained refusal, never a 500 or a hang); one that can
runs on the next tier, and ``failed`` says which tiers it left (the response's ``retried_from``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from maas.errors import NotReady
from maas.placement import LivePlacer, RouteRequest

__all__ = ["run_on_tier", "attempt_timeout_s", "MAX_RETRIES"]

MAX_RETRIES = 2


def attempt_timeout_s(deadline_ms: float | None) -> float:
    """How long one attempt on a tier may take before the tier counts as failed."""
    return 5.0 if deadline_ms is None else max(0.5, 2.0 * deadline_ms / 1000.0)


async def run_on_tier(placer: LivePlacer, backend: Any, route: RouteRequest, deployed: Sequence[str],
                      profile: Mapping[str, float], placement: Any, target: str, inputs: Mapping[str, Any],
                      compute_factor: float, *, started_s: float, perf: Callable[[], float],
                      max_retries: int = MAX_RETRIES) -> tuple[Any, float, Any, list[str]]:
    """Run ``target`` on ``placement``'s tier, moving to another tier on ``NotReady`` (see the module docstring).
    Returns (the placement that ran it, its compute factor, the ``TierResult``, the tiers that failed it)."""
    failed: list[str] = []
    while True:
        try:
            with placer.in_flight(placement):
                try:  # asyncio.timeout, not wait_for: no extra Task per request (gateway CPU, make bench)
                    async with asyncio.timeout(attempt_timeout_s(route.deadline_ms)):
                        result = await backend.infer(target, placement.tier, inputs, compute_factor)
                except TimeoutError:
                    raise NotReady(f"model {route.model!r} on tier {placement.tier!r} did not answer within "
                                   f"{attempt_timeout_s(route.deadline_ms):g} s") from None
            return placement, compute_factor, result, failed
        except NotReady:
            failed.append(placement.tier)
            left = [t for t in deployed if t not in failed]
            spent = route.deadline_ms is not None and (perf() - started_s) * 1e3 >= route.deadline_ms
            if route.pinned_tier is not None or not left or len(failed) > max_retries or spent:
                raise
            placement = placer.place(route, left, profile)  # NoFeasibleTier (503) when none of the rest can
            compute_factor = placer.compute_factor(placement, profile)
