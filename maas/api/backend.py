"""Where tier inferences run. The data plane talks to a ``TierBackend``; Ray Serve provides the real one
(maas.serving.ray_backend); ``LocalBackend`` runs the same ``TierWorker`` in-process (unit tests, benchmarks)."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np

from maas.api.tier_batcher import BatchPolicy
from maas.api.tier_worker import TierResult, TierWorker
from maas.clock import Clock
from maas.errors import NotReady
from maas.models import Catalog

__all__ = ["TierBackend", "LocalBackend"]


class TierBackend(Protocol):
    def deployed(self) -> dict[str, list[str]]:
        """Model name -> tiers where it is deployed and ready."""
        ...

    async def infer(
        self, model: str, tier: str, inputs: dict[str, np.ndarray], compute_factor: float
    ) -> TierResult:
        """Run ``model`` on ``tier``; raises NotReady if that deployment is gone."""
        ...

    def in_process(self) -> list[tuple[str, str]]:
        """The (target, tier) pairs whose worker runs in this process (the rest go over a transport)."""
        ...


class LocalBackend:
    """Every (model, tier) as an in-process TierWorker: real onnxruntime sessions, no cluster."""

    def __init__(
        self,
        catalog: Catalog,
        models_dir: Path,
        placements: dict[str, list[str]],
        *,
        precision_of,
        slots_of,
        clock: Clock,
        batching_of=None,
    ) -> None:
        """``batching_of(model, tier)`` -> ``BatchPolicy`` (or None: no batching, the default)."""
        self._workers: dict[tuple[str, str], TierWorker] = {}
        for model, tiers in placements.items():
            manifest = catalog.get(model)
            for tier in tiers:
                self._workers[(model, tier)] = TierWorker(
                    manifest, models_dir, tier=tier, variant=precision_of(tier), slots=slots_of(tier), clock=clock,
                    batching=batching_of(model, tier) if batching_of is not None else BatchPolicy(),
                )
        self._deployed = {m: list(t) for m, t in placements.items()}

    def deployed(self) -> dict[str, list[str]]:
        return self._deployed

    def in_process(self) -> list[tuple[str, str]]:
        return sorted(self._workers)

    async def infer(
        self, model: str, tier: str, inputs: dict[str, np.ndarray], compute_factor: float
    ) -> TierResult:
        worker = self._workers.get((model, tier))
        if worker is None:
            raise NotReady(f"model {model!r} is not deployed on tier {tier!r}")
        return await worker.infer(inputs, compute_factor)
