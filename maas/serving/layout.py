"""The Ray layout file (cluster/ray-layout.yaml): units of each ``tier:<name>`` resource per node and replica."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from maas.errors import ConfigError

__all__ = ["RayLayout", "load_layout", "node_start_commands"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ReplicaLayout(_Strict):
    num_cpus: float = Field(0, ge=0, description="CPUs each model@tier replica reserves.")
    tier_units_per_replica: float = Field(1, gt=0, description="Units of tier:<name> each replica takes.")


class EmbeddedLayout(_Strict):
    tier_units: float = Field(1000, gt=0, description="Units of every tier:<name> on the single local node.")
    num_cpus: int | None = Field(None, ge=1, description="CPUs Ray may use (None: all cores).")


class TierNodes(_Strict):
    tier: str
    count: int = Field(1, ge=1)
    tier_units: float = Field(1000, gt=0)


class HeadLayout(_Strict):
    resources: dict[str, float] = Field(default_factory=dict)


class MultiNodeLayout(_Strict):
    head: HeadLayout = HeadLayout()
    nodes: list[TierNodes] = Field(default_factory=list)


class RayLayout(_Strict):
    replica: ReplicaLayout = ReplicaLayout()
    embedded: EmbeddedLayout = EmbeddedLayout()
    multi_node: MultiNodeLayout = MultiNodeLayout()


def load_layout(path: Path, tiers: list[str]) -> RayLayout:
    """Read and validate the layout; every multi-node tier must be a topology tier."""
    try:
        raw = yaml.safe_load(Path(path).read_text()) or {}
        layout = RayLayout.model_validate(raw)
    except OSError as exc:
        raise ConfigError(str(path), "<file>", f"cannot be read: {exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(str(path), "<file>", f"is not valid YAML: {exc}") from None
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"])
        raise ConfigError(str(path), field, err["msg"]) from None
    for i, node in enumerate(layout.multi_node.nodes):
        if node.tier not in tiers:
            raise ConfigError(str(path), f"multi_node.nodes.{i}.tier", f"{node.tier!r} is not a tier", ", ".join(tiers))
    return layout


def node_start_commands(layout: RayLayout, head_address: str = "HEAD:6379") -> list[str]:
    """The ``ray start`` command for each node of the multi-node layout (shown by ``maas status``, the README)."""
    commands = [f"ray start --head --resources '{json.dumps(layout.multi_node.head.resources)}'"]
    for node in layout.multi_node.nodes:
        resources = json.dumps({f"tier:{node.tier}": node.tier_units})
        commands += [f"ray start --address {head_address} --resources '{resources}'"] * node.count
    return commands
