"""The request mix: which models are called, by which tenants, with which routing hints, in what proportion.

A mix file (YAML or JSON) looks like::

    entries:
      - {model: digits-mlp, weight: 3, tenant: retail, deadline_ms: 50, objective: latency, site: lisbon}
      - {model: minilm-embed, weight: 1, tenant: docs, deadline_ms: 200, objective: energy, rows: 4}

Each entry is compiled into a few pre-encoded JSON bodies (``PreparedEntry``) from real inputs, so the hot path
only picks bytes. ``deadline_ms`` is sent as a routing hint and is also the client-side SLO: a request attains its
SLO when it succeeds within ``deadline_ms`` of its *intended* send time.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from maas.errors import ConfigError
from maas.loadtest.payloads import inputs_from_metadata, reference_inputs

__all__ = ["MixEntry", "RequestMix", "PreparedEntry", "default_mix", "single_model_mix", "load_mix", "prepare_mix"]

Objective = Literal["latency", "balanced", "energy", "carbon"]


class MixEntry(BaseModel):
    """One kind of request in the mix."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(min_length=1, description="model name on the server")
    weight: float = Field(1.0, gt=0, description="relative share of requests")
    tenant: str = Field("default", description="label for reports (and API key lookup)")
    rows: int = Field(1, ge=1, le=4096, description="batch rows per request")
    deadline_ms: float | None = Field(None, gt=0, description="routing hint and client-side SLO")
    objective: Objective | None = None
    site: str | None = None
    tier: str | None = Field(None, description="pin to one tier (testing)")
    strict: bool | None = None
    explain: bool | None = Field(None, description="ask for the routing decision (response parameter 'decision')")
    api_key: str | None = Field(None, description="sent as 'Authorization: Bearer <key>'")

    def hints(self) -> dict[str, Any]:
        """Request-level V2 ``parameters`` (routing hints) of this entry."""
        keys = ("deadline_ms", "objective", "site", "tier", "strict", "explain")
        return {k: getattr(self, k) for k in keys if getattr(self, k) is not None}


class RequestMix(BaseModel):
    """A weighted list of request kinds."""

    model_config = ConfigDict(extra="forbid")

    entries: list[MixEntry] = Field(min_length=1)

    @property
    def weights(self) -> list[float]:
        return [e.weight for e in self.entries]

    @property
    def models(self) -> list[str]:
        return sorted({e.model for e in self.entries})


def default_mix() -> RequestMix:
    """The reference mix: three SME tenants on the three reference models, each with its deadline."""
    return RequestMix(
        entries=[
            MixEntry(model="digits-mlp", weight=4, tenant="retail-kiosk", deadline_ms=50, objective="latency"),
            MixEntry(model="maintenance-clf", weight=4, tenant="factory", deadline_ms=100, objective="energy", rows=8),
            MixEntry(model="minilm-embed", weight=2, tenant="helpdesk", deadline_ms=250, objective="balanced", rows=2),
        ]
    )


def single_model_mix(model: str, **hints: Any) -> RequestMix:
    """A mix of one entry for ``model`` with optional hints (``None`` values are dropped)."""
    return RequestMix(entries=[MixEntry(model=model, **{k: v for k, v in hints.items() if v is not None})])


def load_mix(path: str | Path) -> RequestMix:
    """Read a mix file (YAML or JSON); any problem is a ``ConfigError`` naming the file and field."""
    p = Path(path)
    try:
        raw = yaml.safe_load(p.read_text())
    except FileNotFoundError:
        raise ConfigError(str(p), "-", "file not found") from None
    except yaml.YAMLError as exc:
        raise ConfigError(str(p), "-", f"not valid YAML/JSON: {exc}") from None
    if isinstance(raw, list):
        raw = {"entries": raw}
    try:
        return RequestMix.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(x) for x in err["loc"]) or "-"
        allowed = None
        if err["loc"] and err["loc"][-1] == "objective":
            allowed = "latency, balanced, energy, carbon"
        raise ConfigError(str(p), where, err["msg"], allowed) from None


@dataclass
class PreparedEntry:
    """A mix entry compiled for the hot path: URL path, headers and a few encoded bodies."""

    index: int
    model: str
    tenant: str
    deadline_ms: float | None
    path: str
    headers: dict[str, str]
    bodies: list[bytes] = field(default_factory=list)


def prepare_mix(
    mix: RequestMix,
    seed: int,
    variants: int = 8,
    metadata: Callable[[str], dict[str, Any]] | None = None,
) -> list[PreparedEntry]:
    """Compile every entry into ``variants`` JSON bodies drawn from real inputs with ``seed``.

    Models that are not reference models get inputs from ``metadata(model)`` (their V2 metadata)."""
    rng = np.random.default_rng(seed)
    out = []
    for i, entry in enumerate(mix.entries):
        headers = {"Content-Type": "application/json"}
        if entry.api_key:
            headers["Authorization"] = f"Bearer {entry.api_key}"
        prepared = PreparedEntry(
            i, entry.model, entry.tenant, entry.deadline_ms, f"/v2/models/{entry.model}/infer", headers
        )
        for v in range(variants):
            inputs = reference_inputs(entry.model, entry.rows, rng)
            if inputs is None:
                if metadata is None:
                    raise ConfigError("mix", f"entries.{i}.model", f"no payload recipe for {entry.model!r}")
                inputs = inputs_from_metadata(metadata(entry.model), entry.rows, rng)
            body: dict[str, Any] = {"id": f"{entry.tenant}-{i}-{v}", "inputs": inputs}
            if entry.hints():
                body["parameters"] = entry.hints()
            prepared.bodies.append(json.dumps(body, separators=(",", ":")).encode())
        out.append(prepared)
    return out
