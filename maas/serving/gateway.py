"""The gateway deployment: the V2 FastAPI app over a DataPlane whose backend is Ray Serve handles."""

from __future__ import annotations

from typing import Any

from ray import serve

from maas.api.app import create_app
from maas.api.factory import build_dataplane
from maas.serving.ray_backend import RayBackend
from maas.settings import Settings

__all__ = ["Gateway"]


@serve.deployment
@serve.ingress()
class Gateway:
    def __init__(self, settings: dict[str, Any]) -> None:
        self._settings = Settings(**settings)
        self._dataplane = build_dataplane(self._settings, RayBackend(refresh_s=self._settings.deployment_refresh_s))

    def __serve_build_asgi_app__(self):
        return create_app(self._dataplane, max_body_bytes=self._settings.max_body_bytes)
