"""Tier models: network, compute, energy and availability of the four tiers, in real or virtual time.

Pure and clock-injected (no Ray, no HTTP). Entry points: ``load_topology(path)`` -> ``Topology``;
``World(topology, clock, seed)`` -> ``estimate`` / ``sample_link_ms`` / ``record_request`` / ``energy_report``.
"""

from maas.tiers.energy import TierEnergy
from maas.tiers.queueing import erlang_c_wait_s, mdc_wait_s
from maas.tiers.spec import TIER_KINDS, SiteSpec, TierSpec
from maas.tiers.topology import Topology, load_topology
from maas.tiers.world import TierEstimate, World, iso_utc

__all__ = [
    "TIER_KINDS",
    "load_topology",
    "Topology",
    "TierSpec",
    "SiteSpec",
    "World",
    "TierEstimate",
    "TierEnergy",
    "erlang_c_wait_s",
    "mdc_wait_s",
    "iso_utc",
]
