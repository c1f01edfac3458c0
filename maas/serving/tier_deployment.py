"""A (model, tier) Ray Serve deployment: a ``TierWorker`` pinned to the tier's nodes by its custom resource."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import ray
from ray import serve

from maas.api.tier_worker import TierResult, TierWorker
from maas.clock import WallClock
from maas.models import load_catalog

__all__ = ["TierModel", "app_name", "parse_app_name"]

SEPARATOR = "@"


def app_name(model: str, tier: str) -> str:
    """The Serve application (and deployment) name of a model on a tier: ``model@tier``."""
    return f"{model}{SEPARATOR}{tier}"


def parse_app_name(name: str) -> tuple[str, str] | None:
    model, sep, tier = name.partition(SEPARATOR)
    return (model, tier) if sep and model and tier else None


@serve.deployment
class TierModel:
    def __init__(self, model: str, tier: str, variant: str, slots: int, models_dir: str, ort_threads: int) -> None:
        catalog = load_catalog(Path(models_dir))
        self._worker = TierWorker(
            catalog.get(model),
            Path(models_dir),
            tier=tier,
            variant=variant,
            slots=slots,
            clock=WallClock(),
            ort_threads=ort_threads,
        )

    async def infer(self, inputs: dict[str, np.ndarray], compute_factor: float) -> TierResult:
        return await self._worker.infer(inputs, compute_factor)

    def where(self) -> dict[str, str]:
        """Which Ray node this replica runs on, and what it serves (for placement checks)."""
        return {
            "node_id": ray.get_runtime_context().get_node_id(),
            "tier": self._worker.tier,
            "model": self._worker.model,
            "variant": self._worker.variant,
        }
