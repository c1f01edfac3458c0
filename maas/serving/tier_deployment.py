"""A (model, version, tier) Ray Serve deployment: a ``TierWorker`` pinned to the tier's nodes by its custom
resource, its manifest and artifacts read from the model registry (sha256 verified when the session opens).

Application names: ``model:version@tier`` (``app_name(model, tier, version)``); the old ``model@tier`` form is
still parsed (version None) so a cluster deployed before versions is understood.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import ray
from ray import serve

from maas.api.tier_batcher import BatchPolicy
from maas.api.tier_worker import TierResult, TierWorker
from maas.clock import WallClock
from maas.models import ModelManifest

__all__ = ["TierModel", "app_name", "batching_policy", "parse_app_name", "parse_versioned_app_name", "served_manifest", "target_name"]

SEPARATOR = "@"
VERSION_SEPARATOR = ":"


def target_name(model: str, version: int | str | None) -> str:
    """The backend target of a model version: ``model:version`` (``model`` alone when version is None)."""
    return model if version is None else f"{model}{VERSION_SEPARATOR}{version}"


def app_name(model: str, tier: str, version: int | str | None = None) -> str:
    """The Serve application (and deployment) name: ``model:version@tier`` (``model@tier`` without a version)."""
    return f"{target_name(model, version)}{SEPARATOR}{tier}"


def parse_versioned_app_name(name: str) -> tuple[str, int | None, str] | None:
    """``model:v@tier`` -> (model, v, tier); ``model@tier`` -> (model, None, tier); None for other apps."""
    target, sep, tier = name.partition(SEPARATOR)
    if not (sep and target and tier):
        return None
    model, vsep, version = target.partition(VERSION_SEPARATOR)
    if not vsep:
        return model, None, tier
    if not model or not version.isdigit():
        return None
    return model, int(version), tier


def parse_app_name(name: str) -> tuple[str, str] | None:
    """(model, tier) of a tier application, either name form."""
    parsed = parse_versioned_app_name(name)
    return None if parsed is None else (parsed[0], parsed[2])


def batching_policy(spec, model: str) -> dict:
    """The tier spec's batching for ``model`` as ``BatchPolicy`` fields (a plain dict: it crosses to Ray replicas)."""
    return spec.batching.for_model(model).model_dump(exclude={"models"})


def served_manifest(settings, model: str, version: int) -> tuple[ModelManifest, Path]:
    """The manifest a model version is served with and the registry's artifact root its files are under."""
    from maas.registry import open_registry

    registry = open_registry(settings)
    try:
        info = registry.show(model, version)
        return registry.served_manifest(info.manifest), Path(registry.artifacts.root)
    finally:
        registry.engine.dispose()


@serve.deployment
class TierModel:
    def __init__(self, model: str, version: int, tier: str, variant: str, slots: int, settings: dict[str, Any],
                 batching: dict[str, Any] | None = None) -> None:
        from maas.settings import Settings

        conf = Settings(**settings)
        manifest, root = served_manifest(conf, model, version)
        self.version = version
        self._worker = TierWorker(
            manifest,
            root,
            tier=tier,
            variant=variant,
            slots=slots,
            clock=WallClock(),
            ort_threads=conf.ort_threads,
            batching=BatchPolicy(**batching) if batching else None,
        )

    async def infer(self, inputs: dict[str, np.ndarray], compute_factor: float) -> TierResult:
        return await self._worker.infer(inputs, compute_factor)

    def where(self) -> dict[str, Any]:
        """Which Ray node this replica runs on, and what it serves (for placement checks)."""
        return {
            "node_id": ray.get_runtime_context().get_node_id(),
            "tier": self._worker.tier,
            "model": self._worker.model,
            "version": self.version,
            "variant": self._worker.variant,
        }
