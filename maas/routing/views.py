"""Build ``TierView``s from tier-model estimates and live queue state (the one code path for both clocks).

The gateway (wall clock) and the simulator (virtual clock) both call ``views_from_estimates`` so a policy sees
requests the same way live and in simulation.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from maas.routing.policy import TierView
from maas.tiers.world import TierEstimate

__all__ = ["TierQueue", "queue_wait_ms", "pick_replica", "views_from_estimates"]

_INF = math.inf


@dataclass(slots=True)
class TierQueue:
    """Live queue state of one tier: requests in flight per replica, slots per replica, per-slot service time.

    ``service_ms`` None means "use the estimate's compute_ms". ``backlog_ms``, when the tier reports it, is per
    replica the time from now until its first slot is free (work already queued there); the wait of a new request
    is then that backlog minus its uplink time, instead of the in-flight formula (``in_flight`` also counts
    requests still on the network, which do not hold a slot). The lists are mutated in place by the owner.
    """

    in_flight: list[int]
    slots: int = 1
    service_ms: float | None = None
    backlog_ms: list[float] | None = None


def queue_wait_ms(in_flight: int, slots: int, service_ms: float) -> float:
    """Expected wait before a new request starts on a replica with ``slots`` servers and ``in_flight`` requests.

    FIFO with near-deterministic service: every ``slots`` requests ahead cost one service time.
    """
    ahead = in_flight - slots + 1
    if ahead <= 0:
        return 0.0
    return ahead * service_ms / slots


def pick_replica(in_flight: list[int], rng: random.Random) -> int:
    """Power-of-two choices: sample two replicas, keep the one with fewer requests in flight."""
    n = len(in_flight)
    if n == 1:
        return 0
    a = int(rng.random() * n)
    b = int(rng.random() * (n - 1))
    if b >= a:
        b += 1
    return a if in_flight[a] <= in_flight[b] else b


def views_from_estimates(
    estimates: Mapping[str, Any] | Sequence[tuple[str, Any]],
    queues: Mapping[str, TierQueue],
    *,
    now_s: float,
    platform_ms: float = 0.0,
    kinds: Mapping[str, str] | None = None,
    rng: random.Random | None = None,
) -> list[TierView]:
    """One ``TierView`` per tier from ``TierEstimate``-like objects and live queues.

    ``estimates`` maps tier name to an object with the ``maas.tiers`` ``TierEstimate`` fields (available, reason,
    uplink_ms, downlink_ms, compute_ms, energy_j, carbon_g, network_p99_ms, window_end_s, battery_after_j,
    battery_reserve_j; missing optional fields mean "not constrained"). A tier without a queue entry is seen
    as one idle replica with one slot.
    """
    items = estimates.items() if isinstance(estimates, Mapping) else estimates
    rng = rng or random
    views: list[TierView] = []
    append = views.append
    for tier, est in items:
        q = queues.get(tier)
        compute_ms = est.compute_ms
        if q is None:
            replica, in_flight, slots, wait_ms = 0, 0, 1, 0.0
        else:
            loads = q.in_flight
            replica = 0 if len(loads) == 1 else pick_replica(loads, rng)
            in_flight = loads[replica]
            slots = q.slots
            backlog = q.backlog_ms
            if backlog is not None:
                wait_ms = backlog[replica] - est.uplink_ms - platform_ms
                if wait_ms < 0.0:
                    wait_ms = 0.0
            else:
                wait_ms = queue_wait_ms(in_flight, slots, compute_ms if q.service_ms is None else q.service_ms)
        if est.__class__ is TierEstimate:  # the tier models' own record (every caller but tests): no getattr
            window_end_s, battery_after, reserve = est.window_end_s, est.battery_after_j, est.battery_reserve_j
            p99 = est.network_p99_ms
        else:
            window_end_s = getattr(est, "window_end_s", None)
            battery_after = getattr(est, "battery_after_j", None)
            reserve = getattr(est, "battery_reserve_j", None)
            p99 = getattr(est, "network_p99_ms", None)
        append(
            TierView(
                tier,
                bool(est.available),
                est.reason,
                est.uplink_ms,
                est.downlink_ms,
                wait_ms,
                compute_ms,
                platform_ms,
                est.energy_j,
                est.carbon_g,
                in_flight,
                slots,
                kinds.get(tier, "") if kinds else "",
                p99,
                _INF if window_end_s is None else (window_end_s - now_s) * 1000.0,
                _INF if battery_after is None else battery_after,
                0.0 if reserve is None else reserve,
                replica,
            )
        )
    return views
