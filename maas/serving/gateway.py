"""The gateway deployment: the V2 FastAPI app over a DataPlane whose backend is Ray Serve handles."""

from __future__ import annotations

from typing import Any

from ray import serve

from maas.api.app import create_app
from maas.api.factory import build_dataplane
from maas.serving.limit_authority import ActorLeaseSource, limit_authority
from maas.serving.ray_backend import RayBackend
from maas.settings import Settings

__all__ = ["Gateway"]


@serve.deployment
@serve.ingress()
class Gateway:
    def __init__(self, settings: dict[str, Any]) -> None:
        self._settings = Settings(**settings)
        leases = ActorLeaseSource(limit_authority(self._settings))
        backend = RayBackend(refresh_s=self._settings.deployment_refresh_s)
        self._dataplane = build_dataplane(self._settings, backend, lease_source=leases)

    def __serve_build_asgi_app__(self):
        return create_app(self._dataplane, max_body_bytes=self._settings.max_body_bytes)

    def __del__(self) -> None:  # Serve calls it on a graceful replica shutdown: give leases back, flush usage
        dataplane = getattr(self, "_dataplane", None)
        if dataplane is not None:
            dataplane.service.close()
