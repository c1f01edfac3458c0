"""The gateway deployment: the V2 FastAPI app over a DataPlane whose backend is Ray Serve handles.

Its catalog is the model registry's and it routes by the rollouts in the database (``VersionRouter``: the routing
revision is compared every ``routing_check_s``); a background task advances satellite uplinks and judges
auto-rollback canaries every ``rollout_check_s`` (``RolloutWatcher``), and ``maas.api.background.Refresher`` reads
the routing revision, rehearsed faults and cached keys in worker threads so requests never wait for the database.
With ``grpc_port`` set, each replica also serves the gRPC Open Inference Protocol (``maas.api.grpc_service``) over
the same data plane, from the ASGI app's startup event (the replica's event loop) to its shutdown event; the
replicas of one node share the port through SO_REUSEPORT.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from ray import serve

from maas.api.app import create_app
from maas.api.background import refresh_in_background
from maas.api.factory import build_dataplane
from maas.api.grpc_service import create_grpc_server
from maas.api.rollout_runtime import RolloutWatcher, open_version_router
from maas.clock import WallClock
from maas.serving.colocated import ColocatedBackend, TierWorkerFactory, colocated_tier_names
from maas.serving.limit_authority import ActorLeaseSource, limit_authority
from maas.serving.metrics_actor import RayMetricsAggregator
from maas.serving.model_control import RayModelControl
from maas.serving.ray_backend import RayBackend
from maas.settings import Settings
from maas.tiers import load_topology

__all__ = ["Gateway", "colocated_backend"]

log = logging.getLogger(__name__)
GRPC_GRACE_S = 5.0  # on shutdown, in-flight gRPC calls get this long to finish before they are cancelled


def colocated_backend(settings: Settings, ray_backend: RayBackend, clock: WallClock):
    """``ray_backend``, or a ``ColocatedBackend`` over it when some tiers run beside this gateway (one hop less)."""
    topology = load_topology(settings.topology_path)
    tiers = colocated_tier_names(settings, topology)
    log.warning("tiers served in the gateway's process (one hop less): %s", ", ".join(sorted(tiers)) or "none")
    if not tiers:
        return ray_backend
    factory = TierWorkerFactory(settings, topology, clock)
    return ColocatedBackend(ray_backend, tiers, factory.build, clock, retain=factory.retain,
                            autoscale_s=factory.autoscale_interval_s())


@serve.deployment
@serve.ingress()
class Gateway:
    def __init__(self, settings: dict[str, Any]) -> None:
        self._settings = Settings(**settings)
        leases = ActorLeaseSource(limit_authority(self._settings))
        clock = WallClock()
        backend = colocated_backend(self._settings, RayBackend(refresh_s=self._settings.deployment_refresh_s), clock)
        self._backend = backend
        self._warm_task: asyncio.Task | None = None
        versions = open_version_router(self._settings, clock)
        self._dataplane = build_dataplane(self._settings, backend, clock, lease_source=leases, versions=versions)
        self._watcher = RolloutWatcher(self._settings, clock)
        self._watch_task: asyncio.Task | None = None
        self._grpc = None  # the grpc.aio server, started with the ASGI app

    def __serve_build_asgi_app__(self):
        app = create_app(self._dataplane, max_body_bytes=self._settings.max_body_bytes)
        app.state.model_control = RayModelControl(self._settings)  # load/unload/push (maas.api.admin_models)
        app.state.metrics.share(RayMetricsAggregator())  # /metrics sums every replica (maas.serving.metrics_actor)
        app.state.rollout_summary = self._watcher.summary  # the status page's rollouts (maas.api.ui_status)
        app.router.add_event_handler("startup", self._start_watch)  # Starlette 1.x: FastAPI has no add_event_handler
        app.router.add_event_handler("startup", self._start_grpc)
        app.router.add_event_handler("startup", self._start_warm)
        app.router.add_event_handler("shutdown", self._stop_grpc)  # Serve runs it before __del__
        refresh_in_background(app)  # routing, faults and keys read in worker threads, not on the request path
        return app

    async def _start_watch(self) -> None:
        if self._watch_task is None:
            self._watch_task = asyncio.get_running_loop().create_task(self._watch())

    async def _start_warm(self) -> None:
        """Build the in-process tier workers of what is deployed (``ColocatedBackend.warm``) in the background;
        ``/v2/health/ready`` says not ready until they are built."""
        backend = self._backend
        if isinstance(backend, ColocatedBackend) and self._warm_task is None:
            backend.warming = True  # before the first readiness probe can run
            self._warm_task = asyncio.get_running_loop().create_task(backend.warm())

    async def _start_grpc(self) -> None:
        """The gRPC endpoint on ``host:grpc_port`` in this replica's event loop (the one serving the data plane)."""
        settings = self._settings
        if not settings.grpc_port or self._grpc is not None:
            return
        server, port = create_grpc_server(self._dataplane, host=settings.host, port=settings.grpc_port,
                                          max_body_bytes=settings.max_body_bytes)
        await server.start()
        self._grpc = server
        log.warning("gRPC (inference.GRPCInferenceService) on %s:%d", settings.host, port)

    async def _stop_grpc(self) -> None:
        server, self._grpc = self._grpc, None
        if server is not None:
            await server.stop(GRPC_GRACE_S)

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self._settings.rollout_check_s)
            try:
                for line in await asyncio.to_thread(self._watcher.step):
                    log.warning("rollouts: %s", line)
            except Exception:  # the database may be busy: try again next round
                log.warning("rollout watch step failed", exc_info=True)

    def where(self) -> dict[str, Any]:
        """Which Ray node this replica runs on and which tiers run beside it (for placement checks)."""
        import ray

        return {"node_id": ray.get_runtime_context().get_node_id(), "in_process": self._dataplane.in_process()}

    def __del__(self) -> None:  # Serve calls it on a graceful replica shutdown: give leases back, flush usage
        dataplane = getattr(self, "_dataplane", None)
        if dataplane is not None:
            dataplane.service.close()
