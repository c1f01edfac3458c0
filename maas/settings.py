"""Platform settings: one validated object. Precedence: defaults < YAML file < ``MAAS_*`` env vars < CLI flags.

Nothing reads the environment at import time; ``load_settings`` is called by whoever starts something.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from maas.errors import ConfigError

__all__ = ["Settings", "load_settings"]

ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    """Everything the platform needs to start; every field has a unit in its name where it has one."""

    model_config = SettingsConfigDict(env_prefix="MAAS_", extra="forbid")

    host: str = Field("127.0.0.1", description="Address the HTTP ingress binds to.")
    port: int = Field(8000, ge=1, le=65535, description="Port of the HTTP ingress.")
    grpc_port: int = Field(
        8001, ge=0, le=65535, description="Port of the gRPC Open Inference Protocol endpoint (inference."
        "GRPCInferenceService, as Triton's 8001) each gateway replica serves on `host`; SO_REUSEPORT lets the "
        "replicas of one node share it. 0: no gRPC endpoint."
    )
    models_dir: Path = Field(ROOT / "models" / "build", description="Built reference models (manifests + ONNX).")
    topology_path: Path = Field(ROOT / "cluster" / "topology.yaml", description="Tiers and sites topology file.")
    layout_path: Path = Field(ROOT / "cluster" / "ray-layout.yaml", description="Ray layout: nodes per tier.")
    policy: str = Field("edge-aware", description="Routing policy name (see maas.routing.build_policy / policy_names).")
    network_emulation: float = Field(
        1.0, ge=0.0, le=100.0, description="Scale of emulated network delays: 1 real-like, 0 none (benchmarks)."
    )
    compute_emulation: float = Field(
        1.0, ge=0.0, le=100.0, description="Scale of emulated device slowdown: 1 real-like, 0 host speed."
    )
    estimate_refresh_s: float = Field(
        1.0, gt=0.0, le=60.0, description="Tier estimates are reused this long (never past a contact window's end or a satellite handover spike's edge)."
    )
    host_time_ewma: float = Field(
        0.2, gt=0.0, le=1.0, description="Weight of each completion in the learned host time per (model, tier)."
    )
    default_host_ms: float = Field(
        1.0, gt=0.0, description="Host compute time assumed for a model whose manifest has no profile."
    )
    initial_platform_ms: float = Field(
        0.5, ge=0.0, description="Platform hop time assumed before the first completion teaches the real one."
    )
    orbit_warm_days: int = Field(
        2, ge=0, le=7, description="Days of contact windows the gateway precomputes at start (yesterday onwards)."
    )
    shed_factor: float | None = Field(
        1.25, gt=0.0, le=10.0,
        description="Admission: a request whose deadline no tier is expected to meet (fastest expected latency, "
        "queues included, over deadline x this; 5% less per priority class below 5) gets a fast 503 with "
        "Retry-After instead of being served late. None: never shed. 1.25: on the grid-constrained scenario "
        "1.0 shed 0.26 points of requests that would have made it, 1.25 none.",
    )
    default_deadline_ms: float | None = Field(
        None, gt=0.0, description="Deadline of requests that give none and whose tenant sets none (None: no deadline)."
    )
    max_body_bytes: int = Field(16 * 1024 * 1024, ge=1024, description="Largest request body accepted (413 above).")
    max_batch: int = Field(64, ge=1, description="Largest batch dimension accepted per request.")
    max_model_bytes: int = Field(
        1024 * 1024 * 1024, ge=1024, description="Largest ONNX file `maas models push` accepts (413 above)."
    )
    uplink_time_scale: float = Field(
        1.0, gt=0.0, le=1e6, description="Orbit seconds per clock second of an emulated model uplink to the satellite "
        "tier (1: wall-clock; 60: an hour of contact windows passes in a minute, for tests and demos)."
    )
    gateway_replicas: int = Field(1, ge=1, description="Gateway (ingress) replicas.")
    colocated_tiers: Literal["auto", "off"] = Field(
        "auto", description="One hop less (maas.serving.colocated): 'auto' runs the tiers whose Ray resource the "
        "gateway's node carries in the gateway's process when there is one gateway replica (the embedded default: "
        "all four); 'off' sends every request over Ray to the tier's replica."
    )
    gateway_max_ongoing_requests: int = Field(256, ge=1, description="In-flight requests per gateway replica.")
    tier_max_ongoing_requests: int = Field(64, ge=1, description="In-flight requests per tier model replica.")
    tier_max_queued_requests: int = Field(
        512, ge=-1, description="Requests queued per tier deployment before a fast 503 (-1 unbounded)."
    )
    ort_threads: int = Field(1, ge=1, le=64, description="onnxruntime intra-op threads per replica.")
    access_log: bool = Field(False, description="Ray Serve per-request access logs (cost CPU).")
    seed: int = Field(0, description="Seed for emulated randomness (network jitter).")
    ray_address: str | None = Field(None, description="Existing Ray cluster to join (None: start or find local).")
    ray_probe_timeout_s: float = Field(
        2.0, gt=0.0, le=10.0, description="How long the platform commands wait for a Ray GCS address to accept a TCP "
        "connection before calling it dead (e.g. a stale ray_current_cluster file)."
    )
    deployment_refresh_s: float = Field(
        2.0, gt=0.0, le=300.0, description="How often the gateway rediscovers the model@tier deployments (how soon "
        "`maas deploy` / `maas undeploy` take effect in it)."
    )
    routing_check_s: float = Field(
        0.1, gt=0.0, le=10.0, description="How often a gateway compares the routing revision the control path bumps "
        "(one indexed read): a version marked ready is routable at most this long after (the issue asks < 1 s)."
    )
    routing_drain_s: float = Field(
        1.0, ge=0.0, le=60.0, description="After a routing change, the control path waits this long before deleting "
        "the deployments of versions no longer routed (10x routing_check_s: every gateway has switched by then)."
    )
    rollout_check_s: float = Field(
        1.0, gt=0.0, le=60.0, description="How often a gateway advances uplinks and judges auto-rollback canaries "
        "(the usage records it reads are ingested every usage_ingest_interval_s, 1 s)."
    )
    rollback_window_s: float = Field(
        60.0, gt=0.0, le=3600.0, description="Auto-rollback compares canary and stable over this trailing window: a "
        "minute holds enough requests at a few req/s and reacts within a minute of a regression."
    )
    rollback_error_margin: float = Field(
        0.05, ge=0.0, le=1.0, description="Auto-rollback when the canary's 5xx rate exceeds stable's by more than this "
        "(absolute, 0.05 = 5 points): well above the noise of a healthy pair over 20+ requests, far below a broken model."
    )
    rollback_attainment_margin: float = Field(
        0.10, ge=0.0, le=1.0, description="Auto-rollback when the canary meets deadlines less often than stable by more "
        "than this (absolute): 10 points, since the tiers' emulated jitter alone moves attainment a few points."
    )
    rollback_min_requests: int = Field(
        20, ge=1, description="The canary is judged only after this many requests in the window (at 20% of a few "
        "req/s: within a minute), so one unlucky request cannot roll it back."
    )
    data_dir: Path = Field(
        ROOT / ".maas", description="Local state: SQLite database, server.secret (key HMACs), admin.key, dev.key."
    )
    database_url: str | None = Field(
        None, description="SQLAlchemy URL (postgresql+psycopg://... for several nodes); None: SQLite in data_dir."
    )
    store_busy_timeout_ms: int = Field(
        5000, ge=0, le=600_000, description="SQLite: how long a writer waits for another writer's lock."
    )
    auth: bool = Field(True, description="Require an API key on the data plane (false: anonymous dev tenant).")
    auth_cache_ttl_s: float = Field(
        0.5, ge=0.0, le=10.0, description="Verified keys are cached this long per replica (revocation delay bound)."
    )
    limit_lease_s: float = Field(
        1.0, gt=0.0, le=60.0,
        description="A gateway replica admits from a lease of its tenant's tokens this long before asking again.",
    )
    journal_fsync_interval_s: float = Field(
        0.2, gt=0.0, le=10.0, description="Usage journal fsync period (a power loss costs at most this much)."
    )
    usage_ingest_interval_s: float = Field(
        1.0, gt=0.0, le=60.0, description="Usage journal segments are rotated and ingested into the database this often."
    )
    energy_shift_pressure: float = Field(
        0.8, ge=0.0, le=1.0,
        description="Fraction of a tenant's daily joule budget used from which its requests minimise energy.",
    )

    def effective_database_url(self) -> str:
        """``database_url``, or SQLite at ``<data_dir>/maas.db`` when unset."""
        from maas.store import default_database_url  # settings stays importable without SQLAlchemy work

        return self.database_url or default_database_url(self.data_dir)


def load_settings(file: Path | None = None, **overrides: Any) -> Settings:
    """Build settings from defaults < ``file`` (YAML) < env < ``overrides`` (CLI flags; None values ignored)."""
    values: dict[str, Any] = {}
    if file is not None:
        try:
            loaded = yaml.safe_load(Path(file).read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(str(file), "<file>", f"cannot be read: {exc}") from None
        if not isinstance(loaded, dict):
            raise ConfigError(str(file), "<top level>", "must be a mapping of setting names to values")
        values.update(loaded)
    cli = {k: v for k, v in overrides.items() if v is not None}
    try:
        # pydantic-settings ranks init kwargs above env, so the file goes in first and env is laid over it.
        base = Settings(**values)
        env = Settings()  # defaults + env; model_fields_set holds the fields env set
        merged = base.model_dump()
        for name in env.model_fields_set:
            merged[name] = getattr(env, name)
        merged.update(cli)
        return Settings(**merged)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or "<settings>"
        raise ConfigError(str(file or "settings"), field, err["msg"]) from None
