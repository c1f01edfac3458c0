"""Pydantic specifications of a tier topology: tiers (network, compute, energy, availability), satellites,
regions, data centres and SME sites. Every number is a parameter; ``cluster/topology.yaml`` gives the defaults.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "TIER_KINDS",
    "NetworkSpec",
    "ComputeSpec",
    "EnergySpec",
    "MaintenanceWindow",
    "AvailabilitySpec",
    "ConstellationSpec",
    "BatterySpec",
    "AutoscalingSpec",
    "GroundStationSpec",
    "UplinkSpec",
    "BatchingOverride",
    "BatchingSpec",
    "TierSpec",
    "ScheduledOutage",
    "GridSpec",
    "RegionSpec",
    "DataCentreSpec",
    "SiteSpec",
    "GeneratorSpec",
    "SitesSpec",
    "TopologySpec",
]

TIER_KINDS: tuple[str, ...] = ("base-station", "optical-access", "ground", "satellite")
"""The four tier kinds, in order from nearest to the SME to farthest."""

Precision = Literal["fp32", "int8"]
PowerSource = Literal["grid", "grid+diesel", "solar-battery"]


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NetworkSpec(_Spec):
    """The access link from an SME site to a tier: lognormal RTT, jitter, bandwidth, propagation, handovers."""

    access: str = Field(description="access technology, e.g. 5g, 5g-a, xgs-pon, metro-fibre, leo")
    rtt_median_ms: float = Field(gt=0, description="median round-trip time excluding distance propagation")
    rtt_p99_ms: float = Field(gt=0, description="99th percentile of that round-trip time")
    jitter_ms: float = Field(ge=0, description="std-dev of extra per-packet jitter (half-normal), one way")
    uplink_mbps: float = Field(gt=0, description="uplink bandwidth per user")
    downlink_mbps: float = Field(gt=0, description="downlink bandwidth per user")
    transmission_j_per_bit: float = Field(ge=0, description="energy per transmitted bit (both directions)")
    propagation_us_per_km: float = Field(default=5.0, ge=0, description="one-way propagation per km of path")
    path_stretch: float = Field(default=1.0, ge=1.0, description="fibre path length / great-circle distance")
    handover_period_s: float | None = Field(default=None, gt=0, description="satellite reassignment period")
    handover_spike_ms: float = Field(default=0.0, ge=0, description="extra one-way delay right after a handover")
    handover_spike_s: float = Field(default=0.0, ge=0, description="how long the handover spike lasts")

    @model_validator(mode="after")
    def _p99_above_median(self) -> NetworkSpec:
        if self.rtt_p99_ms < self.rtt_median_ms:
            raise ValueError(
                f"rtt_p99_ms|{self.rtt_p99_ms} is below rtt_median_ms|>= rtt_median_ms ({self.rtt_median_ms})"
            )
        return self


class ComputeSpec(_Spec):
    """The tier's device relative to this host's CPU, and its thermal behaviour."""

    slowdown_vs_host: float = Field(gt=0, description="device time / host time for the same model (fp32)")
    int8_time_factor: float = Field(default=1.0, gt=0, le=1.0, description="extra int8 time factor on the device")
    thermal_threshold_c: float = Field(default=45.0, description="ambient temperature above which it throttles")
    throttle_per_c: float = Field(default=0.0, ge=0, description="fractional slowdown per degree above threshold")
    throttle_max: float = Field(default=0.0, ge=0, description="largest fractional slowdown from throttling")


class EnergySpec(_Spec):
    """Device power and facility overhead."""

    active_w: float = Field(ge=0, description="device power with all slots busy")
    idle_w: float = Field(ge=0, description="device power when idle")
    pue: float = Field(default=1.0, ge=1.0, description="power usage effectiveness of the facility")
    power_source: PowerSource = "grid"

    @model_validator(mode="after")
    def _idle_below_active(self) -> EnergySpec:
        if self.idle_w > self.active_w:
            raise ValueError(f"idle_w|{self.idle_w} is above active_w|0 to active_w ({self.active_w})")
        return self


class MaintenanceWindow(_Spec):
    """A weekly maintenance window in the site's local time."""

    weekday: int = Field(ge=0, le=6, description="0 = Monday")
    start_h: float = Field(ge=0, lt=24)
    duration_h: float = Field(gt=0, le=24)


class AvailabilitySpec(_Spec):
    """Whether the tier follows the SME site's local grid (edge tiers) and its maintenance windows."""

    follows_site_grid: bool = False
    maintenance: list[MaintenanceWindow] = Field(default_factory=list)


class ConstellationSpec(_Spec):
    """A Walker-delta constellation i: t/p/f, propagated with SGP4 (or loaded from a TLE file)."""

    altitude_km: float = Field(gt=160, lt=2000)
    inclination_deg: float = Field(ge=0, le=180)
    planes: int = Field(ge=1, le=1000)
    sats_per_plane: int = Field(ge=1, le=1000)
    phasing: int = Field(default=1, ge=0, description="Walker phasing parameter f (0 .. planes-1)")
    elevation_mask_deg: float = Field(ge=0, le=90)
    contact_step_s: float = Field(default=30.0, gt=0, le=120, description="sampling step for contact windows")
    tle_file: str | None = None

    @model_validator(mode="after")
    def _phasing_range(self) -> ConstellationSpec:
        if self.phasing >= self.planes and self.planes > 1:
            raise ValueError(f"phasing|{self.phasing} is out of range|0 to planes-1 ({self.planes - 1})")
        return self

    @property
    def size(self) -> int:
        return self.planes * self.sats_per_plane


class BatterySpec(_Spec):
    """A satellite's battery: charged by solar input in sunlight, drained by the bus and by compute."""

    capacity_j: float = Field(gt=0)
    reserve_j: float = Field(ge=0, description="below this, onboard compute is refused")
    initial_j: float | None = Field(default=None, ge=0, description="state of charge at the start (capacity)")
    solar_w: float = Field(ge=0, description="solar input in sunlight")
    bus_load_w: float = Field(default=0.0, ge=0, description="other satellite loads, always on")

    @model_validator(mode="after")
    def _reserve_below_capacity(self) -> BatterySpec:
        if self.reserve_j > self.capacity_j:
            raise ValueError(f"reserve_j|{self.reserve_j} is above capacity_j|0 to capacity_j ({self.capacity_j})")
        if self.initial_j is not None and self.initial_j > self.capacity_j:
            raise ValueError(f"initial_j|{self.initial_j} is above capacity_j|0 to capacity_j ({self.capacity_j})")
        return self


class GroundStationSpec(_Spec):
    """A gateway site on the ground that uplinks to the constellation (model delivery, issue 10)."""

    name: str
    lat_deg: float = Field(ge=-90, le=90)
    lon_deg: float = Field(ge=-180, le=180)
    elevation_mask_deg: float | None = Field(
        default=None, ge=0, le=90, description="the station's minimum elevation (default: the constellation's)"
    )


class UplinkSpec(_Spec):
    """How model bytes reach the satellite tier: a rate during the ground stations' contact windows.

    Each contact window (one satellite tracked above the station's mask) costs ``setup_s`` of acquisition and
    session setup before bytes flow; a transfer resumes in the next window where the last one stopped.
    """

    rate_bps: float = Field(gt=0, description="uplink rate while in contact, bits per second")
    setup_s: float = Field(default=0.0, ge=0, description="per-window acquisition/setup time before bytes flow")
    max_attempts: int = Field(default=3, ge=1, le=100, description="sends of a version before it is refused")
    horizon_days: float = Field(default=7.0, gt=0, le=60, description="how far ahead windows are predicted")
    ground_stations: list[GroundStationSpec] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_stations(self) -> UplinkSpec:
        names = [g.name for g in self.ground_stations]
        if len(set(names)) != len(names):
            raise ValueError("ground_stations|duplicate ground station name|unique names")
        return self


class BatchingOverride(_Spec):
    """One model's batching on a tier; a field left out keeps the tier's value."""

    max_batch_size: int | None = Field(default=None, ge=1, le=1024, description="requests per batch (1 = off)")
    max_queue_delay_ms: float | None = Field(
        default=None, ge=0, le=10_000, description="longest wait for a batch to fill after its first request, ms")
    allow_inexact: bool | None = Field(default=None, description="batch a variant whose outputs depend on the batch")


class BatchingSpec(_Spec):
    """Dynamic batching of a tier's workers (off by default): up to ``max_batch_size`` queued requests, or those
    that arrived within ``max_queue_delay_ms`` of the first, run as one onnxruntime call in one compute slot.

    A variant whose outputs for one request change with the other requests in its batch (dynamic int8
    quantisation computes one activation scale per batch) is not batched unless ``allow_inexact``; the worker checks
    this at warm-up. ``models`` overrides any field per model name.
    """

    max_batch_size: int = Field(default=1, ge=1, le=1024, description="requests per batch (1 = off)")
    max_queue_delay_ms: float = Field(
        default=0.0, ge=0, le=10_000, description="longest wait for a batch to fill after its first request, ms")
    allow_inexact: bool = Field(default=False, description="batch a variant whose outputs depend on the batch")
    models: dict[str, BatchingOverride] = Field(default_factory=dict, description="per model name overrides")

    def for_model(self, model: str) -> BatchingSpec:
        """This tier's batching for ``model``: its override applied, no ``models`` left."""
        base = self.model_dump(exclude={"models"})
        override = self.models.get(model)
        if override is not None:
            base.update(override.model_dump(exclude_none=True))
        return BatchingSpec(**base)


class AutoscalingSpec(_Spec):
    """Autoscaling of a (model, tier)'s compute slots between ``min_slots`` and the tier's ``slots`` (absent: all
    slots always active). The rule is Ray Serve's default policy (``replica_queue_length_autoscaling_policy``):
    every ``metrics_interval_s`` the requests at the worker (waiting + running) are sampled; their mean over
    ``look_back_period_s`` divided by ``target_ongoing_requests`` is the slots wanted; a change is made once it has
    been wanted for ``upscale_delay_s`` (more) or ``downscale_delay_s`` (fewer). A slot added starts serving after
    ``slot_start_s`` (loading the model on the accelerator). Serve's defaults are 30 s up and 600 s down for
    replicas that take seconds to start; a tier's accelerator slot is cheaper to wake."""

    min_slots: int = Field(default=1, ge=1, le=4096, description="slots kept active when idle")
    target_ongoing_requests: float = Field(default=1.0, gt=0, le=1000, description="requests per active slot wanted")
    upscale_delay_s: float = Field(default=2.0, ge=0, le=3600, description="wanted for this long before adding")
    downscale_delay_s: float = Field(default=30.0, ge=0, le=86_400, description="wanted this long before removing")
    look_back_period_s: float = Field(default=5.0, gt=0, le=3600, description="window the request count is averaged")
    metrics_interval_s: float = Field(default=0.5, gt=0, le=60, description="how often the count is sampled")
    slot_start_s: float = Field(default=0.5, ge=0, le=600, description="from a slot added to its first request")


class TierSpec(_Spec):
    """One tier: where it is, how fast its link and device are, what it costs in energy, when it is up."""

    name: str
    kind: Literal["base-station", "optical-access", "ground", "satellite"]
    precision: Precision = "fp32"
    slots: int = Field(ge=1, le=4096, description="concurrent compute slots per replica/site")
    network: NetworkSpec
    compute: ComputeSpec
    energy: EnergySpec
    availability: AvailabilitySpec = Field(default_factory=AvailabilitySpec)
    constellation: ConstellationSpec | None = None
    battery: BatterySpec | None = None
    uplink: UplinkSpec | None = None
    batching: BatchingSpec = Field(default_factory=BatchingSpec)
    autoscaling: AutoscalingSpec | None = None

    @property
    def ray_resource(self) -> str:
        """The Ray custom resource that pins this tier's deployments to its nodes."""
        return f"tier:{self.name}"

    @model_validator(mode="after")
    def _satellite_parts(self) -> TierSpec:
        if self.kind == "satellite" and (self.constellation is None or self.battery is None):
            raise ValueError("constellation|a satellite tier needs 'constellation' and 'battery'|both sections present")
        if self.uplink is not None and self.kind != "satellite":
            raise ValueError("uplink|only a satellite tier receives models by uplink|no 'uplink' section")
        if self.autoscaling is not None and self.autoscaling.min_slots > self.slots:
            raise ValueError(f"autoscaling.min_slots|at most the tier's slots|1..{self.slots}")
        return self


class ScheduledOutage(_Spec):
    """A daily scheduled outage (load shedding) in local time."""

    start_h: float = Field(ge=0, lt=24)
    duration_h: float = Field(gt=0, le=24)


class GridSpec(_Spec):
    """The local electricity grid of a region: outages, UPS ride-through, diesel backup, carbon intensity."""

    carbon_g_per_kwh: float = Field(ge=0)
    carbon_daily_amplitude: float = Field(default=0.0, ge=0, le=1, description="relative swing over a day")
    carbon_peak_h: float = Field(default=19.0, ge=0, lt=24, description="local hour of the highest intensity")
    outages_per_day: float = Field(default=0.0, ge=0, description="stochastic outages (Poisson rate)")
    outage_median_min: float = Field(default=30.0, gt=0)
    outage_sigma: float = Field(default=0.8, ge=0, description="lognormal sigma of outage duration")
    scheduled: list[ScheduledOutage] = Field(default_factory=list)
    ups_ride_through_min: float = Field(default=0.0, ge=0, description="battery/UPS time after a grid loss")
    diesel_backup: bool = False
    diesel_start_s: float = Field(default=60.0, ge=0, description="time for the diesel set to take the load")
    diesel_g_per_kwh: float = Field(default=700.0, ge=0)


class RegionSpec(_Spec):
    """A region of SME sites: centre, spread, access coverage, climate and grid."""

    name: str
    lat_deg: float = Field(ge=-90, le=90)
    lon_deg: float = Field(ge=-180, le=180)
    radius_km: float = Field(gt=0)
    weight: float = Field(default=1.0, gt=0, description="share of generated sites")
    utc_offset_h: float = Field(default=0.0, ge=-12, le=14)
    base_station_coverage: float = Field(default=1.0, ge=0, le=1)
    fibre_fraction: float = Field(default=0.5, ge=0, le=1)
    sites_per_cell: int = Field(default=20, ge=1)
    ambient_mean_c: float = 25.0
    ambient_amplitude_c: float = Field(default=5.0, ge=0)
    ambient_peak_h: float = Field(default=15.0, ge=0, lt=24)
    link_sigma: float = Field(default=0.15, ge=0, description="lognormal spread of per-site RTT multipliers")
    grid: GridSpec


class DataCentreSpec(_Spec):
    """A ground data centre (metro, regional or national hub)."""

    name: str
    lat_deg: float = Field(ge=-90, le=90)
    lon_deg: float = Field(ge=-180, le=180)
    region: str = Field(description="region whose grid carbon intensity applies")


class SiteSpec(_Spec):
    """An SME site: where it is and which tiers it reaches."""

    name: str
    lat_deg: float = Field(ge=-90, le=90)
    lon_deg: float = Field(ge=-180, le=180)
    region: str
    access: tuple[str, ...] = TIER_KINDS
    cell: str | None = None
    datacentre: str | None = None
    link_factor: float = Field(default=1.0, gt=0, description="multiplier on RTT medians for this site")


class GeneratorSpec(_Spec):
    """Generated SME sites: ``count`` sites spread over the regions by weight, from ``seed``."""

    seed: int = 0
    count: int = Field(ge=0, le=10_000_000)


class SitesSpec(_Spec):
    """Explicit sites, a CSV file of sites, and/or generated sites; ``default_site`` is used when none is named."""

    default_site: str
    explicit: list[SiteSpec] = Field(default_factory=list)
    file: str | None = None
    generator: GeneratorSpec | None = None


class TopologySpec(_Spec):
    """The whole topology file."""

    version: Literal[1] = 1
    epoch: str = Field(description="ISO-8601 UTC epoch of the constellation elements")
    tiers: dict[str, TierSpec]
    regions: list[RegionSpec]
    datacentres: list[DataCentreSpec]
    sites: SitesSpec
