"""Placement: the one place a request is placed, for both clocks (the gateway's wall clock, the simulator's
virtual clock).

- ``EstimateCache`` (estimates.py): the one estimate cache, its reuse rule and the affine host-time trick.
- ``Fault`` (faults.py): outages and link degradations, one model for the engine, the oracle and the gateway.
- ``TierModels`` / ``TopologyTierModels`` (tier_models.py): what placement needs from ``maas.tiers``.
- ``BatchModel`` / ``BatchQueue`` (batching.py): a batching worker's batch costs and queue estimate.
- ``Placer`` (placer.py): estimates + faults + live queues -> views -> policy ranking -> one answer.
- ``LivePlacer`` (live.py): the gateway's side (in-flight counts, learned host and hop times, link sampling).

The HTTP layer (``maas.api``) imports only this package of the placement side; the routing types it needs are
re-exported here.
"""

from maas.placement.batching import BatchModel, BatchQueue, batch_ratios
from maas.placement.estimates import EstimateCache, EstimateSet, outage_estimate
from maas.placement.faults import FAULT_KINDS, Fault, blocked, link_factor
from maas.placement.live import LivePlacer, LiveTuning, build_live_placer
from maas.placement.placer import NoPlacement, Placement, Placer
from maas.placement.tier_models import TierModels, TopologyTierModels, topology_tier_models_factory
from maas.routing import OBJECTIVES, RouteRequest

__all__ = [
    "BatchModel",
    "BatchQueue",
    "batch_ratios",
    "EstimateCache",
    "EstimateSet",
    "outage_estimate",
    "Fault",
    "FAULT_KINDS",
    "blocked",
    "link_factor",
    "TierModels",
    "TopologyTierModels",
    "topology_tier_models_factory",
    "Placer",
    "Placement",
    "NoPlacement",
    "LivePlacer",
    "LiveTuning",
    "build_live_placer",
    "OBJECTIVES",
    "RouteRequest",
]
