"""Links from an SME site to a tier: lognormal RTT, jitter, serialisation, propagation, handover spikes, faults."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from maas.tiers.spec import NetworkSpec

__all__ = ["Z99", "LinkParams", "lognormal_sigma", "LinkFault"]

Z99 = 2.326347874  # standard normal 99th percentile


def lognormal_sigma(median: float, p99: float) -> float:
    """Sigma of a lognormal with the given median and 99th percentile."""
    return math.log(p99 / median) / Z99


@dataclass(slots=True)
class LinkFault:
    """Link degradation: RTT multiplied and bandwidth divided by factors in [start_s, end_s)."""

    tier: str
    site: str | None
    start_s: float
    end_s: float
    rtt_factor: float = 1.0
    bandwidth_factor: float = 1.0


class LinkParams:
    """Precomputed figures of one (site, tier) link; the hot path only multiplies and adds."""

    __slots__ = (
        "spec",
        "rtt_median_ms",
        "sigma",
        "half_rtt_mean_ms",
        "half_rtt_p99_ms",
        "prop_ms",
        "ms_per_byte_up",
        "ms_per_byte_down",
        "jitter_ms",
        "jitter_p99_ms",
        "j_per_byte",
    )

    def __init__(self, spec: NetworkSpec, link_factor: float, distance_km: float) -> None:
        self.spec = spec
        self.rtt_median_ms = spec.rtt_median_ms * link_factor
        self.sigma = lognormal_sigma(spec.rtt_median_ms, spec.rtt_p99_ms)
        self.half_rtt_mean_ms = 0.5 * self.rtt_median_ms * math.exp(self.sigma**2 / 2)
        self.half_rtt_p99_ms = 0.5 * self.rtt_median_ms * math.exp(Z99 * self.sigma)
        self.prop_ms = distance_km * spec.path_stretch * spec.propagation_us_per_km / 1000.0
        self.ms_per_byte_up = 8.0 / (spec.uplink_mbps * 1000.0)
        self.ms_per_byte_down = 8.0 / (spec.downlink_mbps * 1000.0)
        self.jitter_ms = spec.jitter_ms
        self.jitter_p99_ms = spec.jitter_ms * Z99
        self.j_per_byte = 8.0 * spec.transmission_j_per_bit

    def handover_ms(self, t_s: float) -> float:
        """Extra one-way delay if ``t_s`` falls right after a scheduled satellite reassignment."""
        p = self.spec.handover_period_s
        if p is None or self.spec.handover_spike_s <= 0:
            return 0.0
        return self.spec.handover_spike_ms if (t_s % p) < self.spec.handover_spike_s else 0.0

    def handover_edge_s(self, t_s: float) -> float | None:
        """The next time after ``t_s`` a reassignment spike starts or ends (None: the link has no spikes)."""
        p = self.spec.handover_period_s
        if p is None or self.spec.handover_spike_s <= 0:
            return None
        phase = t_s % p
        spike = self.spec.handover_spike_s
        return t_s - phase + (spike if phase < spike else p)

    def sample(
        self,
        rng: np.random.Generator,
        input_bytes: int,
        output_bytes: int,
        prop_ms: float,
        t_s: float,
        rtt_factor: float = 1.0,
        bw_factor: float = 1.0,
    ) -> tuple[float, float]:
        """One random (uplink_ms, downlink_ms): lognormal RTT/2 + propagation + serialisation + jitter + spike."""
        rtt = self.rtt_median_ms * rtt_factor * math.exp(self.sigma * rng.standard_normal())
        jit = np.abs(rng.standard_normal(2)) * self.jitter_ms if self.jitter_ms > 0 else (0.0, 0.0)
        up = rtt / 2 + prop_ms + input_bytes * self.ms_per_byte_up * bw_factor + jit[0] + self.handover_ms(t_s)
        t_down = t_s + up / 1000.0
        down = rtt / 2 + prop_ms + output_bytes * self.ms_per_byte_down * bw_factor + jit[1] + self.handover_ms(t_down)
        return float(up), float(down)
