"""The data plane's ``TierBackend`` on Ray Serve: one DeploymentHandle per ``model@tier`` application.

Deployments are discovered from ``serve.status()``: at start, then every ``refresh_s`` in the background, so
``maas deploy`` / ``maas undeploy`` take effect in the gateway without restarting it.
"""

from __future__ import annotations

import asyncio
import logging

import numpy as np
from ray import serve
from ray.exceptions import RayActorError
from ray.serve.exceptions import BackPressureError, DeploymentUnavailableError, RayServeException

from maas.api.tier_worker import TierResult
from maas.errors import NotReady
from maas.serving.tier_deployment import parse_app_name, parse_versioned_app_name

__all__ = ["RayBackend", "discover", "discover_targets"]

log = logging.getLogger(__name__)


def discover() -> dict[str, list[str]]:
    """Model -> tiers whose ``model@tier`` application is RUNNING."""
    found: dict[str, list[str]] = {}
    for name, app in serve.status().applications.items():
        parsed = parse_app_name(name)
        if parsed and str(app.status).endswith("RUNNING"):
            found.setdefault(parsed[0], []).append(parsed[1])
    return {m: sorted(t) for m, t in found.items()}


def discover_targets() -> dict[str, list[str]]:
    """``model:version`` -> tiers whose ``model:version@tier`` application is RUNNING (what requests are sent to)."""
    found: dict[str, list[str]] = {}
    for name, app in serve.status().applications.items():
        parsed = parse_versioned_app_name(name)
        if parsed and parsed[1] is not None and str(app.status).endswith("RUNNING"):
            found.setdefault(f"{parsed[0]}:{parsed[1]}", []).append(parsed[2])
    return {t: sorted(tiers) for t, tiers in found.items()}


class RayBackend:
    """Handles per ``model@tier``; ``refresh_s`` (``Settings.deployment_refresh_s``): how often the deployed
    set is rediscovered in the background."""

    def __init__(self, refresh_s: float) -> None:
        self._refresh_s = refresh_s
        self._handles: dict[tuple[str, str], serve.handle.DeploymentHandle] = {}
        self._deployed: dict[str, list[str]] = {}
        self._task: asyncio.Task | None = None
        self.refresh()

    def refresh(self) -> None:
        self._deployed = discover()

    def deployed(self) -> dict[str, list[str]]:
        if self._task is None:
            try:
                self._task = asyncio.get_running_loop().create_task(self._refresh_loop())
            except RuntimeError:
                pass
        return self._deployed

    async def _refresh_loop(self) -> None:
        while True:
            await asyncio.sleep(self._refresh_s)
            try:
                self._deployed = await asyncio.to_thread(discover)
            except Exception:  # the controller may be restarting; keep the last view
                log.warning("deployment discovery failed", exc_info=True)

    def deployed_targets(self) -> dict[str, list[str]]:
        """``discover_targets`` now (blocking: call it in a thread)."""
        return discover_targets()

    def in_process(self) -> list[tuple[str, str]]:
        return []  # every tier over Ray (maas.serving.colocated runs some beside the gateway)

    def _handle(self, model: str, tier: str) -> serve.handle.DeploymentHandle:
        key = (model, tier)
        handle = self._handles.get(key)
        if handle is None:
            name = f"{model}@{tier}"
            handle = self._handles[key] = serve.get_deployment_handle(name, app_name=name, _check_exists=False)
        return handle

    async def infer(
        self, model: str, tier: str, inputs: dict[str, np.ndarray], compute_factor: float
    ) -> TierResult:
        try:
            return await self._handle(model, tier).infer.remote(inputs, compute_factor)
        except BackPressureError:
            raise NotReady(f"tier {tier!r} is overloaded for model {model!r}: its queue is full, retry later") from None
        except (DeploymentUnavailableError, RayServeException) as exc:
            self._handles.pop((model, tier), None)
            raise NotReady(f"model {model!r} on tier {tier!r} is not available: {type(exc).__name__}") from None
        except RayActorError as exc:  # the replica died mid-request (kill -9, node lost): the data plane retries
            raise NotReady(f"model {model!r} on tier {tier!r} failed: its replica died ({type(exc).__name__})") from None
