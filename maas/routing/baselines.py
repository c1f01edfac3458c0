"""Baseline policies the main policy is compared against (papers' and simulators' usual suspects).

Each ranks available tiers first, in its own order, then unavailable ones; none models uncertainty.
"""

from __future__ import annotations

import random

from maas.routing.policy import RouteRequest, RoutingPolicy, TierView

__all__ = [
    "RandomPolicy",
    "RoundRobinPolicy",
    "NearestPolicy",
    "LeastLoadedPolicy",
    "SingleTierPolicy",
    "GreedyLatencyPolicy",
    "GreedyEnergyPolicy",
    "EdgeCloudSimThresholdPolicy",
]


def _split(views: list[TierView]) -> tuple[list[TierView], list[str]]:
    up = [v for v in views if v.available]
    down = [v.tier for v in views if not v.available]
    return up, down


class RandomPolicy(RoutingPolicy):
    """A uniformly random available tier."""

    name = "random"

    def __init__(self, seed: int = 0) -> None:
        self._rng = random.Random(seed)

    def choose(self, request: RouteRequest, views: list[TierView]) -> list[str]:
        up, down = _split(views)
        self._rng.shuffle(up)
        return [v.tier for v in up] + down


class RoundRobinPolicy(RoutingPolicy):
    """Available tiers in turn."""

    name = "round-robin"

    def __init__(self) -> None:
        self._next = 0

    def choose(self, request: RouteRequest, views: list[TierView]) -> list[str]:
        up, down = _split(views)
        if up:
            k = self._next % len(up)
            self._next += 1
            up = up[k:] + up[:k]
        return [v.tier for v in up] + down


class NearestPolicy(RoutingPolicy):
    """Least network round trip (uplink + downlink), ignoring queues and compute."""

    name = "nearest"

    def choose(self, request: RouteRequest, views: list[TierView]) -> list[str]:
        up, down = _split(views)
        up.sort(key=lambda v: v.uplink_ms + v.downlink_ms)
        return [v.tier for v in up] + down


class LeastLoadedPolicy(RoutingPolicy):
    """Least utilisation (requests in flight per slot)."""

    name = "least-loaded"

    def choose(self, request: RouteRequest, views: list[TierView]) -> list[str]:
        up, down = _split(views)
        up.sort(key=lambda v: v.in_flight / max(v.slots, 1))
        return [v.tier for v in up] + down


class SingleTierPolicy(RoutingPolicy):
    """Everything to one tier, whatever its state (the caller drops the request when it is unavailable)."""

    def __init__(self, tier: str) -> None:
        self.tier = tier
        self.name = f"single-tier-{tier}"

    def choose(self, request: RouteRequest, views: list[TierView]) -> list[str]:
        return [v.tier for v in views if v.tier == self.tier]


class GreedyLatencyPolicy(RoutingPolicy):
    """Least estimated latency (network + queue + compute), deadlines ignored."""

    name = "greedy-latency"

    def choose(self, request: RouteRequest, views: list[TierView]) -> list[str]:
        up, down = _split(views)
        up.sort(key=lambda v: v.latency_ms)
        return [v.tier for v in up] + down


class GreedyEnergyPolicy(RoutingPolicy):
    """Least estimated energy, deadlines ignored."""

    name = "greedy-energy"

    def choose(self, request: RouteRequest, views: list[TierView]) -> list[str]:
        up, down = _split(views)
        up.sort(key=lambda v: v.energy_j)
        return [v.tier for v in up] + down


class EdgeCloudSimThresholdPolicy(RoutingPolicy):
    """EdgeCloudSim-style: the nearest edge tier unless its utilisation exceeds a threshold, then the cloud.

    Edge tiers are views of kind ``edge_kinds`` (default base-station, optical-access) and cloud tiers of kind
    ``cloud_kinds`` (default ground); views without a kind are matched by tier name.
    """

    name = "edgecloudsim-threshold"

    def __init__(
        self,
        threshold: float = 0.8,
        edge_kinds: tuple[str, ...] = ("base-station", "optical-access"),
        cloud_kinds: tuple[str, ...] = ("ground",),
    ) -> None:
        self.threshold = threshold
        self.edge_kinds = tuple(edge_kinds)
        self.cloud_kinds = tuple(cloud_kinds)

    def choose(self, request: RouteRequest, views: list[TierView]) -> list[str]:
        up, down = _split(views)
        edge = sorted((v for v in up if (v.kind or v.tier) in self.edge_kinds), key=lambda v: v.network_ms)
        cloud = sorted((v for v in up if (v.kind or v.tier) in self.cloud_kinds), key=lambda v: v.network_ms)
        placed = {v.tier for v in edge} | {v.tier for v in cloud}
        other = [v for v in up if v.tier not in placed]
        cool = [v for v in edge if v.in_flight / max(v.slots, 1) <= self.threshold]
        hot = [v for v in edge if v.in_flight / max(v.slots, 1) > self.threshold]
        order = cool + cloud + hot + other if cool else cloud + edge + other
        return [v.tier for v in order] + down
