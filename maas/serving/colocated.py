"""One hop less: tiers whose work would run on the gateway's own node run beside it, in its process.

Over Ray a request takes two hops: Serve's proxy -> gateway replica -> model replica (the second through Ray's
object store and the replica's queue, ~1 ms of CPU on each side). Where a tier's replicas run on the gateway's node
anyway, the gateway can run the same ``TierWorker`` (same onnxruntime session, same compute slots, same emulated
device time) in its own process and call it directly.

Which tiers (``colocated_tier_names``, decided once at gateway start):
- ``Settings.colocated_tiers`` "off": none, every request goes over Ray.
- "auto" (default): the tiers whose ``tier:<name>`` resource the gateway's node carries, if there is exactly one
  gateway replica. One replica keeps each tier's compute slots counted in one place, so the emulation and the
  router's queue view stay exact; with two or more, every tier goes over Ray as before. The embedded single-node
  default carries every tier (all of them run beside the gateway); on a multi-node cluster the gateway's node (the
  head) carries none, so each tier's work stays on its own nodes.

At start (``warm``, from the gateway's startup event) the workers of every pair deployed then are built before the
gateway says ready (``warming``): a fresh platform hit by a burst to every pair at once otherwise sent them all over
Ray while twelve builds ran, and cold handles let attempts time out (5 s) and the router learn 100-ms hops.

What does not change: the ``model:version@tier`` Serve deployments are still deployed and are what the rollouts
mark ready, so ``maas deploy`` / ``undeploy`` / rollouts work as before (the gateway only routes to versions the
database says are ready on a tier). The in-process worker of a (version, tier) is built in a thread of its own the
first time a request asks for it; until it is ready (the first second or so) those requests go over Ray. A worker
idle for ``idle_s`` (a version no longer routed) is dropped; a failed build is retried after ``prune_s``.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from maas.api.tier_batcher import BatchPolicy
from maas.api.tier_worker import TierResult, TierWorker
from maas.clock import Clock
from maas.models import ModelManifest, ModelRunner
from maas.placement.autoscaling import SlotAutoscaler
from maas.serving.tier_deployment import batching_policy, parse_versioned_app_name, served_manifest
from maas.settings import Settings

__all__ = ["ColocatedBackend", "TierWorkerFactory", "colocated_tier_names", "tiers_on_node"]

log = logging.getLogger(__name__)

# A model whose warm-up inference takes longer runs in a worker thread beside the gateway (a thread hand-off costs
# ~50-100 us here, more than digits-mlp's whole inference; MiniLM's 5+ ms would stall the gateway's event loop).
OFFLOAD_ABOVE_MS = 1.0


def tiers_on_node(node_resources: Mapping[str, float], tier_resources: Mapping[str, str], settings: Settings) -> frozenset[str]:
    """The tiers (name -> its Ray resource in ``tier_resources``) that run beside a gateway on a node with
    ``node_resources``, by the rules in the module docstring."""
    if settings.colocated_tiers == "off" or settings.gateway_replicas != 1:
        return frozenset()
    return frozenset(tier for tier, resource in tier_resources.items() if node_resources.get(resource, 0) > 0)


def colocated_tier_names(settings: Settings, topology) -> frozenset[str]:
    """``tiers_on_node`` for the node this process runs on (asks Ray; call inside the gateway replica)."""
    import ray

    try:
        node_id = ray.get_runtime_context().get_node_id()
        resources = next((n.get("Resources", {}) for n in ray.nodes() if n.get("NodeID") == node_id), {})
    except Exception:  # the GCS did not answer: every tier over Ray, as before this existed
        log.warning("cannot read this node's resources; every tier is served over Ray", exc_info=True)
        return frozenset()
    return tiers_on_node(resources, {name: spec.ray_resource for name, spec in topology.tiers.items()}, settings)


class TierWorkerFactory:
    """Builds the in-process ``TierWorker`` of a ``model:version`` target on a tier from the registry (as its
    Serve replica would); tiers serving the same variant of a version share one onnxruntime session."""

    def __init__(self, settings: Settings, topology, clock: Clock) -> None:
        self._settings = settings
        self._topology = topology
        self._clock = clock
        self._manifests: dict[str, tuple[ModelManifest, object]] = {}
        self._runners: dict[tuple[str, str], ModelRunner] = {}
        self._lock = threading.Lock()  # build runs in a thread, retain on the event loop

    def build(self, target: str, tier: str) -> TierWorker:
        parsed = parse_versioned_app_name(f"{target}@{tier}")
        if parsed is None or parsed[1] is None:
            raise ValueError(f"{target!r} names no registered version (model:version)")
        model, version, _ = parsed
        spec = self._topology.tiers[tier]
        with self._lock:
            served = self._manifests.get(target)
            if served is None:
                served = self._manifests[target] = served_manifest(self._settings, model, version)
            manifest, root = served
            runner = self._runners.get((target, spec.precision))
            if runner is None:
                runner = ModelRunner(manifest, root, variant=spec.precision, intra_op_threads=self._settings.ort_threads)
                self._runners[(target, spec.precision)] = runner
        autoscaler = (None if spec.autoscaling is None
                      else SlotAutoscaler(spec.autoscaling, spec.slots, self._clock.now_s()))
        return TierWorker(manifest, root, tier=tier, variant=spec.precision, slots=spec.slots, clock=self._clock,
                          runner=runner, offload_above_ms=OFFLOAD_ABOVE_MS,
                          batching=BatchPolicy(**batching_policy(spec, model)), autoscaler=autoscaler)

    def autoscale_interval_s(self) -> float | None:
        """How often the autoscaled tiers sample their workers (the shortest ``metrics_interval_s``; None: none
        autoscales)."""
        intervals = [t.autoscaling.metrics_interval_s for t in self._topology.tiers.values() if t.autoscaling]
        return min(intervals) if intervals else None

    def retain(self, targets: set[str]) -> None:
        """Forget the manifests and sessions of every other target."""
        with self._lock:
            self._manifests = {t: m for t, m in self._manifests.items() if t in targets}
            self._runners = {k: r for k, r in self._runners.items() if k[0] in targets}


class ColocatedBackend:
    """A ``TierBackend``: requests for ``tiers`` go to in-process workers once built, everything else (and those
    tiers until then) to ``inner`` (the ``RayBackend``). ``build(target, tier)`` is blocking: it runs in a thread.

    A worker is built the first time a request asks for its (target, tier); that request and the ones until the
    worker is ready go over Ray. Builds run one at a time on a thread of their own (not the loop's default pool,
    which the gateway's background reads use). A worker that has served nothing for ``idle_s`` (a version no
    longer routed: the gateway only routes what the rollouts mark ready) is dropped every ``prune_s``, and failed
    builds are forgotten then, so a passing failure (the database busy) is retried; a dropped worker asked for
    again is rebuilt the same way. Nothing here reads Serve's status on the request path's process loop: ``serve.status()``
    every few seconds cost the gateway's p99 at concurrency 1 twice bare Serve's (33 vs 18 ms, ``make bench``).
    """

    def __init__(self, inner, tiers: frozenset[str], build: Callable[[str, str], TierWorker], clock: Clock, *,
                 retain: Callable[[set[str]], None] = lambda _targets: None, idle_s: float = 600.0,
                 prune_s: float = 60.0, autoscale_s: float | None = None) -> None:
        self._inner = inner
        self.tiers = tiers
        self._build = build
        self._retain = retain
        self._clock = clock
        self._idle_s = idle_s
        self._prune_s = prune_s
        self._workers: dict[tuple[str, str], TierWorker] = {}
        self._used_s: dict[tuple[str, str], float] = {}
        self._building: dict[tuple[str, str], asyncio.Task] = {}
        self._failed: set[tuple[str, str]] = set()
        self._prune_task: asyncio.Task | None = None
        self._builder = ThreadPoolExecutor(1, thread_name_prefix="colocated-build")
        self.warming = False
        self._autoscale_s = autoscale_s
        self._autoscale_task: asyncio.Task | None = None
        self._on_slots: Callable[[str, str, int], None] = lambda _model, _tier, _active: None

    def watch_slots(self, on_slots: Callable[[str, str, int], None]) -> None:
        """Call ``on_slots(model name, tier, active slots)`` whenever an in-process worker's active slots change
        (autoscaling; the router's queue view follows) and when it starts serving."""
        self._on_slots = on_slots
        for key, worker in self._workers.items():
            self._tell_slots(key, worker.active_slots)

    def _tell_slots(self, key: tuple[str, str], active: int) -> None:
        self._on_slots(key[0].split(":", 1)[0], key[1], active)

    def active_slots(self) -> dict[tuple[str, str], tuple[int, int]]:
        """(target, tier) -> (active slots, the tier's slots) of the in-process workers."""
        return {key: (w.active_slots, w.slots) for key, w in self._workers.items()}

    def autoscale(self) -> None:
        """One control step of every autoscaled in-process worker (``TierWorker.autoscale``) at the clock's now."""
        now_s = self._clock.now_s()
        for worker in list(self._workers.values()):
            if worker.autoscaler is not None:
                worker.autoscale(now_s)

    async def _autoscale_loop(self) -> None:
        while True:
            await self._clock.sleep_s(self._autoscale_s)
            try:
                self.autoscale()
            except Exception:  # keep scaling next round
                log.warning("autoscaling the in-process tier workers failed", exc_info=True)

    async def warm(self, timeout_s: float = 180.0) -> list[tuple[str, str]]:
        """Build the workers of every (target, tier) deployed now on a colocated tier, one at a time, with
        ``warming`` True meanwhile (the gateway is not ready until they are built, or ``timeout_s`` has passed:
        then the rest are built on demand as before). ``inner.deployed_targets()`` names them. Returns the pairs
        built."""
        self.warming = True
        try:
            deployed = await asyncio.to_thread(self._inner.deployed_targets)  # model:version -> tiers
            keys = [(target, tier) for target, tiers in sorted(deployed.items()) for tier in tiers if tier in self.tiers]
            for key in keys:
                if key not in self._workers and key not in self._building and key not in self._failed:
                    self._building[key] = asyncio.get_running_loop().create_task(self._start(key))
            pending = [self._building[k] for k in keys if k in self._building]
            if pending:
                _, late = await asyncio.wait(pending, timeout=timeout_s)
                if late:
                    log.warning("%d tier workers not built within %g s; they are built on demand", len(late),
                                timeout_s)
        except Exception:  # discovery failed: everything is built on demand, as before warm-up existed
            log.warning("warming the in-process tier workers failed; they are built on demand", exc_info=True)
            return []
        finally:
            self.warming = False
        return [k for k in keys if k in self._workers]

    def in_process(self) -> list[tuple[str, str]]:
        """The (target, tier) pairs served in this process now."""
        return sorted(self._workers)

    def deployed(self) -> dict[str, list[str]]:
        return self._inner.deployed()

    async def infer(self, model: str, tier: str, inputs: dict[str, np.ndarray], compute_factor: float) -> TierResult:
        key = (model, tier)
        worker = self._workers.get(key)
        if worker is not None:
            self._used_s[key] = self._clock.now_s()
            return await worker.infer(inputs, compute_factor)
        if tier in self.tiers and key not in self._building and key not in self._failed:
            self._building[key] = asyncio.get_running_loop().create_task(self._start(key))
        return await self._inner.infer(model, tier, inputs, compute_factor)

    async def _start(self, key: tuple[str, str]) -> None:
        try:
            worker = await asyncio.get_running_loop().run_in_executor(self._builder, self._build, *key)
            self._used_s[key] = self._clock.now_s()
            self._workers[key] = worker
            worker.on_active = lambda active, key=key: self._tell_slots(key, active)
            self._tell_slots(key, worker.active_slots)
            if worker.autoscaler is not None and self._autoscale_task is None and self._autoscale_s:
                self._autoscale_task = asyncio.get_running_loop().create_task(self._autoscale_loop())
        except Exception:  # it stays on Ray, where its replica serves it
            self._failed.add(key)
            log.warning("cannot run %s@%s beside the gateway; it is served over Ray", *key, exc_info=True)
        finally:
            self._building.pop(key, None)
        if self._prune_task is None:
            self._prune_task = asyncio.get_running_loop().create_task(self._prune_loop())

    async def _prune_loop(self) -> None:
        while True:  # a cadence in real time; idleness is measured on the clock
            await asyncio.sleep(self._prune_s)
            try:
                self.prune()
            except Exception:  # keep pruning next round
                log.warning("pruning idle tier workers failed", exc_info=True)

    def prune(self) -> list[tuple[str, str]]:
        """Drop the workers idle for ``idle_s`` or more and forget failed builds; returns what was dropped."""
        self._failed.clear()
        now_s = self._clock.now_s()
        dropped = [key for key in self._workers if now_s - self._used_s.get(key, now_s) >= self._idle_s]
        for key in dropped:
            self._workers.pop(key).close()
            self._used_s.pop(key, None)
        if dropped:
            self._retain({target for target, _ in self._workers})
        return dropped
