"""Faults in scenario (or wall) time: the one model the engine, the oracle and the live gateway share.

A ``Fault`` is an outage of a tier (at some sites, or everywhere) or a degradation of its links by ``factor``.
What a fault touches is decided in one place, ``Fault.blocks``: a tier is unusable for a request when an outage
is in force at the request's arrival (the tier's estimate says unavailable) or overlaps the request's service on
the tier, ``[service_start_s, service_end_s)``. The engine calls it with the simulated queueing start; the
offline oracle with the no-wait start, which is what the engine does when the tier is idle.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["Fault", "FAULT_KINDS", "blocked", "link_factor"]

FAULT_KINDS = ("outage", "link_degradation")


@dataclass(frozen=True, slots=True)
class Fault:
    """A fault window ``[start_s, end_s)``; ``sites`` None means every site."""

    kind: str  # outage | link_degradation
    tier: str
    start_s: float
    end_s: float
    sites: frozenset[str] | None = None
    factor: float = 1.0

    def applies(self, tier: str, site: str) -> bool:
        return tier == self.tier and (self.sites is None or site in self.sites)

    def hits(self, tier: str, site: str, t_s: float) -> bool:
        """In force for ``tier`` at ``site`` at time ``t_s``."""
        return self.start_s <= t_s < self.end_s and self.applies(tier, site)

    def overlaps(self, tier: str, site: str, start_s: float, end_s: float) -> bool:
        """In force at some time in ``[start_s, end_s)`` for ``tier`` at ``site``."""
        return self.start_s < end_s and start_s < self.end_s and self.applies(tier, site)

    def blocks(self, tier: str, site: str, arrival_s: float, service_start_s: float, service_end_s: float) -> bool:
        """An outage that makes ``tier`` fail a request: down at its arrival or during its service."""
        return self.kind == "outage" and (
            self.hits(tier, site, arrival_s) or self.overlaps(tier, site, service_start_s, service_end_s)
        )


def blocked(faults: Iterable[Fault], tier: str, site: str, arrival_s: float, service_start_s: float,
            service_end_s: float) -> bool:
    """Whether any of ``faults`` blocks the request (see ``Fault.blocks``)."""
    return any(f.blocks(tier, site, arrival_s, service_start_s, service_end_s) for f in faults)


def link_factor(faults: Iterable[Fault], tier: str, site: str, t_s: float) -> float:
    """The product of the link-degradation factors in force for ``tier`` at ``site`` at ``t_s``."""
    factor = 1.0
    for f in faults:
        if f.kind == "link_degradation" and f.hits(tier, site, t_s):
            factor *= f.factor
    return factor
