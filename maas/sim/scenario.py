"""Scenario files (YAML): world, deployed models with their profiles, workload, tenants, faults, policies.

``load_scenario(path)`` validates the file and raises ``ConfigError(file, field, problem, allowed)`` for anything
wrong (unknown policies, models or tiers, a negative rate, a deadline <= 0 ...), before anything runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from maas.errors import ConfigError

__all__ = [
    "ModelProfile",
    "WorkloadSpec",
    "TenantSpec",
    "FaultSpec",
    "TableTierSpec",
    "OracleSpec",
    "ModelUpdateSpec",
    "ScenarioSpec",
    "load_scenario",
]


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ModelProfile(_Spec):
    """A deployed model: host compute time (from its manifest profile) and request/response sizes."""

    host_compute_ms: float = Field(gt=0, description="median inference time on this host's CPU, batch 1")
    input_bytes: int = Field(default=1024, ge=0)
    output_bytes: int = Field(default=256, ge=0)


class WorkloadSpec(_Spec):
    """Arrivals: poisson, gamma (burstiness ``cv``), diurnal (``amplitude``, ``period_s``), flash (a flash crowd:
    ``flash_factor`` x the rate for ``flash_s`` from ``flash_start_s``) or trace replay."""

    kind: Literal["poisson", "gamma", "diurnal", "flash", "trace"] = "poisson"
    rate_rps: float = Field(default=100.0, gt=0, description="mean arrival rate")
    cv: float = Field(default=1.0, gt=0, description="coefficient of variation of inter-arrivals (gamma)")
    amplitude: float = Field(default=0.5, ge=0, le=1, description="relative diurnal swing")
    period_s: float = Field(default=86400.0, gt=0)
    phase_s: float = 0.0
    flash_start_s: float = Field(default=0.0, ge=0, description="when the flash crowd begins (kind: flash)")
    flash_s: float = Field(default=0.0, ge=0, description="how long the flash crowd lasts (kind: flash)")
    flash_factor: float = Field(default=1.0, ge=1, description="arrival rate multiplier during the flash crowd")
    trace_file: str | None = Field(default=None, description="CSV with a t_s column (kind: trace)")

    @model_validator(mode="after")
    def _trace_needs_file(self) -> WorkloadSpec:
        if self.kind == "trace" and not self.trace_file:
            raise ValueError("trace_file|missing for kind 'trace'|a CSV path with a t_s column")
        return self


class TenantSpec(_Spec):
    """A class of SMEs: share of requests, deadline, objective, strictness, model mix."""

    name: str
    share: float = Field(gt=0)
    deadline_ms: float | None = Field(default=None, gt=0)
    objective: Literal["latency", "energy", "carbon", "balanced"] = "latency"
    strict: bool = False
    epsilon: float | None = Field(default=None, gt=0, lt=0.5, description="deadline miss probability allowed")
    models: dict[str, float] = Field(min_length=1, description="model name -> weight")
    energy_j_per_day: float | None = Field(
        default=None, gt=0, description="the tenant's daily joule budget, as `maas tenants create --energy-j-per-day`")
    priority: int = Field(default=5, ge=0, le=9, description="0 (background) .. 9: lower classes are shed first")


class FaultSpec(_Spec):
    """A fault in [start_s, end_s): a tier outage (optionally at some sites/locations only), the loss of the
    satellite tier, or a link degradation multiplying true link times by ``factor`` (estimates don't know)."""

    kind: Literal["outage", "satellite_loss", "link_degradation"]
    tier: str | None = None
    sites: list[str] | None = None
    start_s: float = Field(ge=0)
    end_s: float = Field(gt=0)
    factor: float = Field(default=2.0, gt=0)

    @model_validator(mode="after")
    def _order(self) -> FaultSpec:
        if self.end_s <= self.start_s:
            raise ValueError(f"end_s|{self.end_s} is not after start_s|> {self.start_s}")
        return self


class TableTierSpec(_Spec):
    """A tier with fixed figures (for worlds without a topology file); see ``maas.sim.world.TableTier``."""

    name: str
    kind: Literal["base-station", "optical-access", "ground", "satellite"]
    uplink_ms: float = Field(ge=0)
    downlink_ms: float = Field(ge=0)
    link_sigma: float = Field(default=0.0, ge=0)
    slowdown: float = Field(default=1.0, gt=0)
    power_w: float = Field(default=10.0, ge=0)
    carbon_g_per_j: float = Field(default=0.0, ge=0)
    slots: int = Field(default=1, ge=1)
    up_period_s: float | None = Field(default=None, gt=0)
    up_s: float | None = Field(default=None, gt=0)
    battery_j: float | None = Field(default=None, gt=0)
    reserve_j: float = Field(default=0.0, ge=0)


class OracleSpec(_Spec):
    """Offline oracle settings."""

    enabled: bool = True
    max_requests: int = Field(default=5000, ge=1)
    bucket_s: float = Field(default=0.1, gt=0)
    time_limit_s: float = Field(default=60.0, gt=0)
    stage2: Literal["energy", "objective"] = Field(
        default="energy", description="after the most requests within deadline: least energy, or each tenant's own "
                                      "objective (maas.routing.oracle.objective_costs)")


class ModelUpdateSpec(_Spec):
    """A new version of a deployed model released at ``at_s``: it reaches a satellite tier only by uplink over the
    tier's contact windows (``maas.tiers.uplink``); until the last byte arrives that tier serves the old version.
    The new version's host time is ``host_compute_ms`` or the old one x ``speed_factor``."""

    model: str
    at_s: float = Field(ge=0, description="scenario seconds when the new version is released (its uplink starts)")
    size_bytes: int = Field(gt=0, description="size of the int8 variant that travels")
    host_compute_ms: float | None = Field(default=None, gt=0, description="the new version's host time, batch 1")
    speed_factor: float | None = Field(default=None, gt=0, description="new host time = old host time x this")
    tier: str = Field(default="satellite", description="the satellite tier it travels to")
    uplink_bps: float | None = Field(default=None, gt=0, description="default: the topology's uplink.rate_bps")
    setup_s: float | None = Field(default=None, ge=0, description="per-window setup; default: the topology's")

    @model_validator(mode="after")
    def _one_speed(self) -> ModelUpdateSpec:
        if (self.host_compute_ms is None) == (self.speed_factor is None):
            raise ValueError("host_compute_ms|give exactly one of 'host_compute_ms' and 'speed_factor'|one of them")
        return self


class ScenarioSpec(_Spec):
    """A whole scenario."""

    name: str
    description: str = ""
    topology: str | None = Field(default=None, description="topology YAML, relative to the scenario file")
    table_tiers: list[TableTierSpec] | None = None
    epoch_start: str = Field(default="2026-01-01T00:00:00Z", description="ISO-8601 UTC start of the run")
    duration_s: float = Field(gt=0)
    seed: int = 0
    platform_ms: float = Field(default=1.0, ge=0, description="gateway/serving overhead per request")
    compute_cv: float = Field(default=0.03, ge=0, description="lognormal spread of true compute times")
    estimate_bias: float = Field(default=0.0, gt=-1, description="estimates shown to the router = truth x (1+bias)")
    estimate_refresh_s: float = Field(default=1.0, ge=0, description="tier estimates cached this long (0: never)")
    sites: list[str] | None = Field(default=None, description="SME sites (default: the topology's)")
    region: str | None = Field(default=None, description="only the topology's sites in this region")
    tiers: list[str] | None = Field(default=None, description="only these tiers exist in this scenario")
    site_count: int | None = Field(default=None, ge=1, description="use only the first N sites")
    replicas: dict[str, int] = Field(default_factory=dict, description="replicas per tier location (default 1)")
    models: dict[str, ModelProfile] = Field(min_length=1)
    workload: WorkloadSpec
    tenants: list[TenantSpec] = Field(min_length=1)
    faults: list[FaultSpec] = Field(default_factory=list)
    policies: list[str] | Literal["all"] = "all"
    policy_options: dict[str, dict] = Field(default_factory=dict)
    energy_shift_pressure: float = Field(
        default=0.8, ge=0, le=1, description="fraction of a tenant's daily joules from which it minimises energy")
    shed_factor: float | None = Field(
        default=1.25, gt=0, le=10, description="admission as the gateway's `shed_factor` setting (None: never shed)")
    oracle: OracleSpec = Field(default_factory=OracleSpec)
    model_updates: list[ModelUpdateSpec] = Field(default_factory=list, description="new versions uplinked")

    @model_validator(mode="after")
    def _one_world(self) -> ScenarioSpec:
        if (self.topology is None) == (self.table_tiers is None):
            raise ValueError("topology|give exactly one of 'topology' and 'table_tiers'|topology or table_tiers")
        return self


def _field_of(err: dict) -> str:
    return ".".join(str(p) for p in err.get("loc", ())) or "(file)"


def load_scenario(path: str | Path) -> ScenarioSpec:
    """Read and validate a scenario file (names of models used by tenants are checked here; tiers, sites and
    policies are checked against the world by ``maas.sim.runner.prepare``)."""
    path = Path(path)
    fname = str(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(fname, "(file)", "not found") from None
    except yaml.YAMLError as exc:
        raise ConfigError(fname, "(file)", f"not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(fname, "(file)", "must be a mapping")
    try:
        spec = ScenarioSpec.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        msg = str(err.get("msg", "invalid"))
        if "|" in msg:  # our validators: "field|problem|allowed"
            parts = msg.removeprefix("Value error, ").split("|")
            raise ConfigError(fname, f"{_field_of(err)}.{parts[0]}".lstrip("."), parts[1],
                              parts[2] if len(parts) > 2 else None) from None
        allowed = None
        ctx = err.get("ctx") or {}
        if "expected" in ctx:
            allowed = str(ctx["expected"])
        elif "gt" in ctx:
            allowed = f"> {ctx['gt']}"
        elif "ge" in ctx:
            allowed = f">= {ctx['ge']}"
        raise ConfigError(fname, _field_of(err), msg, allowed) from None
    for i, update in enumerate(spec.model_updates):
        if update.model not in spec.models:
            raise ConfigError(fname, f"model_updates.{i}.model", "unknown model", ", ".join(sorted(spec.models)))
    for i, tenant in enumerate(spec.tenants):
        for model in tenant.models:
            if model not in spec.models:
                raise ConfigError(fname, f"tenants.{i}.models.{model}", "unknown model",
                                  ", ".join(sorted(spec.models)))
    return spec
