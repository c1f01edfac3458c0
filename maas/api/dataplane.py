"""The V2 data plane, free of HTTP and of Ray: decode, validate, route, emulate the network, run, account.

A request goes through ``DataPlane.infer``:
1. decode the V2 body (JSON or binary extension) and validate it against the model's manifest;
2. read routing hints (parameters, then X-Maas-* headers) and build one ``TierView`` per tier the model is on;
3. the policy ranks the tiers; the first available one is taken (a pin or a strict deadline may 503 instead);
4. uplink delay, the tier's compute (queue + emulated device time), downlink delay, all through the clock;
5. energy and carbon from the tier models; the response's parameters say what happened.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from typing import Any

import numpy as np

from maas import __version__
from maas.api.backend import TierBackend
from maas.api.hints import RoutingHints
from maas.api.placement import Placement, PlacementEstimator
from maas.api.v2_codec import InferRequest, decode_request, encode_response
from maas.clock import Clock
from maas.errors import InvalidInput, NoFeasibleTier, NotReady
from maas.models import Catalog, ModelManifest
from maas.routing import Observation, RouteRequest, RoutingPolicy
from maas.settings import Settings

__all__ = ["DataPlane", "InferResult"]

SERVER_NAME = "maas"


class InferResult:
    """An encoded response: ``body`` and, for the binary extension, the JSON header's length."""

    __slots__ = ("body", "header_length")

    def __init__(self, body: bytes, header_length: int | None) -> None:
        self.body = body
        self.header_length = header_length


class DataPlane:
    def __init__(
        self,
        *,
        catalog: Catalog,
        estimator: PlacementEstimator,
        policy: RoutingPolicy,
        backend: TierBackend,
        clock: Clock,
        settings: Settings,
        perf_counter=time.perf_counter,
    ) -> None:
        self._catalog = catalog
        self._estimator = estimator
        self._policy = policy
        self._backend = backend
        self._clock = clock
        self._settings = settings
        self._perf = perf_counter
        self._rng = np.random.default_rng(settings.seed)

    # -- health and metadata -------------------------------------------------------------------------------
    def live(self) -> bool:
        return True

    def ready(self) -> bool:
        deployed = self._backend.deployed()
        return any(deployed.get(name) for name in self._catalog.names())

    def server_metadata(self) -> dict[str, Any]:
        return {
            "name": SERVER_NAME,
            "version": __version__,
            "extensions": ["binary_tensor_data", "model_repository", "maas_routing"],
        }

    def catalog(self) -> list[dict[str, Any]]:
        deployed = self._backend.deployed()
        return [
            {"name": m.name, "version": m.version, "task": m.task, "tiers": deployed.get(m.name, [])}
            for m in self._catalog.manifests()
        ]

    def model_metadata(self, name: str, version: str | None) -> dict[str, Any]:
        m = self._catalog.get(name, version)
        return {
            "name": m.name,
            "versions": [m.version],
            "platform": "onnxruntime_onnx",
            "inputs": [{"name": t.name, "datatype": t.datatype, "shape": t.shape} for t in m.inputs],
            "outputs": [{"name": t.name, "datatype": t.datatype, "shape": t.shape} for t in m.outputs],
            "maas": {
                "task": m.task,
                "description": m.description,
                "tiers": self._backend.deployed().get(m.name, []),
                "quality": m.quality,
                "preprocessing": m.preprocessing,
            },
        }

    def model_ready(self, name: str, version: str | None) -> bool:
        m = self._catalog.get(name, version)
        return bool(self._backend.deployed().get(m.name))

    # -- inference -----------------------------------------------------------------------------------------
    async def infer(
        self, name: str, version: str | None, body: bytes, headers: Mapping[str, str]
    ) -> InferResult:
        t_start = self._perf()
        manifest = self._catalog.get(name, version)
        request = decode_request(body, _header_length(headers))
        inputs, batch = _validate_inputs(manifest, request, self._settings.max_batch)
        binary_outputs, wanted = _requested_outputs(manifest, request)
        hints = self._estimator.hints(request.parameters, headers)
        deployed = self._backend.deployed().get(manifest.name, [])
        if not deployed:
            raise NotReady(f"model {manifest.name!r} is not deployed on any tier")
        output_bytes = _output_bytes(manifest, batch)
        placement = self._place(manifest, hints, deployed, len(body), output_bytes)

        up_ms, down_ms = self._estimator.sample_link_ms(placement, self._rng)
        t0 = self._perf()
        await self._clock.sleep_s(up_ms / 1e3)
        t1 = self._perf()
        with self._estimator.in_flight(manifest.name, placement.tier):
            result = await self._backend.infer(manifest.name, placement.tier, inputs, placement.compute_factor)
        t2 = self._perf()
        await self._clock.sleep_s(down_ms / 1e3)
        t3 = self._perf()

        outputs = {k: v for k, v in result.outputs.items() if k in wanted}
        ran_ms = max(result.host_ms, result.compute_ms)
        backend_ms = (t2 - t1) * 1e3
        hop_ms = max(0.0, backend_ms - result.queue_ms - ran_ms)
        platform_ms = ((t0 - t_start) + (self._perf() - t3)) * 1e3 + hop_ms
        latency_ms = up_ms + result.queue_ms + result.compute_ms + down_ms + platform_ms
        energy_j, carbon_g = self._estimator.account(placement, result.host_ms, result.compute_ms)
        self._estimator.learn(placement, result.host_ms, hop_ms)
        self._policy.observe(
            Observation(
                placement.request,
                placement.tier,
                placement.view.latency_ms,
                latency_ms,
                energy_j=energy_j,
                at_s=placement.t_s,
                network_ms=placement.view.network_ms,
            )
        )
        params: dict[str, Any] = {
            "tier": placement.tier,
            "site": hints.site,
            "policy": self._policy.name,
            "latency_ms": round(latency_ms, 3),
            "uplink_ms": round(up_ms, 3),
            "queue_ms": round(result.queue_ms, 3),
            "compute_ms": round(result.compute_ms, 3),
            "downlink_ms": round(down_ms, 3),
            "platform_ms": round(platform_ms, 3),
            "energy_j": energy_j,
            "carbon_g": carbon_g,
            "variant": self._estimator.precision(placement.tier),
        }
        if hints.deadline_ms is not None:
            params["deadline_ms"] = hints.deadline_ms
            params["deadline_met"] = latency_ms <= hints.deadline_ms
        body_out, header_len = encode_response(
            model_name=manifest.name,
            model_version=manifest.version,
            request_id=request.id or uuid.uuid4().hex,
            outputs=outputs,
            parameters=params,
            binary_outputs=binary_outputs,
        )
        return InferResult(body_out, header_len)

    def _place(
        self, manifest: ModelManifest, hints: RoutingHints, deployed: list[str], input_bytes: int, output_bytes: int
    ) -> Placement:
        if hints.tier is not None and hints.tier not in deployed:
            raise NoFeasibleTier(
                f"model {manifest.name!r} is not deployed on tier {hints.tier!r} (deployed on: {', '.join(deployed)})"
            )
        route = RouteRequest(
            model=manifest.name,
            site=hints.site,
            objective=hints.objective,
            deadline_ms=hints.deadline_ms,
            strict=hints.strict,
            input_bytes=input_bytes,
            output_bytes=output_bytes,
            pinned_tier=hints.tier,
        )
        views = self._estimator.views(manifest, route, deployed, output_bytes)
        by_tier = {v.tier: v for v in views}
        ranked, feasible = self._policy.choose_checked(route, views)
        if hints.strict and hints.deadline_ms is not None and not feasible:
            decision = self._policy.decide(route, views)
            reasons = "; ".join(f"{t}: {r}" for t, r in decision.reasons.items())
            raise NoFeasibleTier(f"no tier meets the strict deadline of {hints.deadline_ms} ms ({reasons})")
        for tier in ranked:
            view = by_tier[tier]
            if view.available:
                return self._estimator.placement(manifest, route, view, output_bytes)
        reasons = "; ".join(f"{v.tier}: {v.reason or 'unavailable'}" for v in views if not v.available)
        raise NoFeasibleTier(f"no tier can take this request now ({reasons})")


def _header_length(headers: Mapping[str, str]) -> int | None:
    raw = headers.get("inference-header-content-length")
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError:
        raise InvalidInput(f"Inference-Header-Content-Length must be an integer, got {raw!r}") from None


def _validate_inputs(
    manifest: ModelManifest, request: InferRequest, max_batch: int
) -> tuple[dict[str, np.ndarray], int]:
    expected = {t.name: t for t in manifest.inputs}
    got = {t.name: t for t in request.inputs}
    allowed = ", ".join(expected)
    extra = [n for n in got if n not in expected]
    if extra:
        raise InvalidInput(f"unknown input {extra[0]!r} for model {manifest.name!r} (expected: {allowed})")
    missing = [n for n in expected if n not in got]
    if missing:
        raise InvalidInput(f"missing input {missing[0]!r} for model {manifest.name!r} (expected: {allowed})")
    batches = set()
    for name, spec in expected.items():
        tensor = got[name]
        if tensor.datatype != spec.datatype:
            raise InvalidInput(f"input {name!r} has datatype {tensor.datatype} but the model expects {spec.datatype}")
        shape = tensor.array.shape
        if len(shape) != len(spec.shape) or any(s != -1 and s != d for s, d in zip(spec.shape, shape, strict=True)):
            raise InvalidInput(f"input {name!r} has shape {list(shape)} but the model expects {spec.shape} (-1: any)")
        batches.add(shape[0] if shape else 1)
    if len(batches) != 1:
        raise InvalidInput(f"inputs disagree on the batch size: {sorted(batches)}")
    batch = batches.pop()
    if batch < 1 or batch > max_batch:
        raise InvalidInput(f"batch size {batch} is outside 1..{max_batch}")
    return {name: got[name].array for name in expected}, batch


def _requested_outputs(manifest: ModelManifest, request: InferRequest) -> tuple[set[str], set[str]]:
    names = [t.name for t in manifest.outputs]
    if not request.outputs:
        return (set(names) if request.binary_output_default else set()), set(names)
    wanted, binary = set(), set()
    for out in request.outputs:
        if out["name"] not in names:
            raise InvalidInput(f"unknown output {out['name']!r} (model outputs: {', '.join(names)})")
        wanted.add(out["name"])
        flag = (out.get("parameters") or {}).get("binary_data", request.binary_output_default)
        if not isinstance(flag, bool):
            raise InvalidInput(f"output {out['name']!r}: parameters.binary_data must be true or false")
        if flag:
            binary.add(out["name"])
    return binary, wanted


def _output_bytes(manifest: ModelManifest, batch: int) -> int:
    total = 0
    for spec in manifest.outputs:
        per_row = 1
        for d in spec.shape[1:]:
            per_row *= max(d, 1)
        total += per_row * batch * 4
    return total
