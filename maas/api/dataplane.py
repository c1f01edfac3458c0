"""The V2 data plane, free of HTTP and of Ray: decode, validate, route, emulate the network, run, account.

A request goes through ``DataPlane.infer``:
0. the service guard (``maas.api.service``): the API key (401), the model and tiers the tenant may use (403), its
   limits (429); whatever happens next, one usage record is journalled before the response is returned;
1. decode the V2 body (JSON or binary extension) and validate it against the model's manifest;
2. read routing hints (parameters, then X-Maas-* headers, then the tenant's defaults);
3. ask placement one question (``maas.placement.LivePlacer.place``) and get one answer: the tier, or a 503 with
   the reason none can take it (a pin to an undeployed tier, a strict deadline no tier meets, nothing available);
4. uplink delay, the tier's compute (queue + emulated device time), downlink delay, all through the clock;
5. placement accounts energy and carbon and learns from the completion; the response's parameters say what
   happened.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

import numpy as np

from maas import __version__
from maas.api.backend import TierBackend
from maas.api.hints import parse_hints
from maas.api.service import ServiceGuard, Ticket
from maas.api.tier_retry import run_on_tier
from maas.api.v2_codec import InferRequest, decode_request, encode_response
from maas.api.versions import VersionRouter
from maas.clock import Clock
from maas.errors import Forbidden, InvalidInput, MaasError, NotReady
from maas.metering import Principal
from maas.models import Catalog, ModelManifest
from maas.placement import LivePlacer, RouteRequest
from maas.settings import Settings

__all__ = ["DataPlane", "InferResult"]

SERVER_NAME = "maas"


class InferResult:
    """An encoded response: ``body``, for the binary extension the JSON header's length, and response headers."""

    __slots__ = ("body", "header_length", "headers")

    def __init__(self, body: bytes, header_length: int | None, headers: dict[str, str] | None = None) -> None:
        self.body = body
        self.header_length = header_length
        self.headers = headers or {}


class DataPlane:
    def __init__(
        self,
        *,
        catalog: Catalog,
        placer: LivePlacer,
        backend: TierBackend,
        service: ServiceGuard,
        clock: Clock,
        settings: Settings,
        perf_counter=time.perf_counter,
        versions: VersionRouter | None = None,
    ) -> None:
        self._static_catalog = catalog
        self.versions = versions  # rollouts: which version serves a request, and where (maas.api.versions)
        self._placer = placer
        self._backend = backend
        self.service = service
        self._clock = clock
        self._settings = settings
        self._perf = perf_counter
        self._host_profiles: dict[tuple[str, str], dict[str, float]] = {}
        watch_slots = getattr(backend, "watch_slots", None)  # autoscaled workers: the router counts active slots
        if watch_slots is not None:
            watch_slots(placer.set_active_slots)

    @property
    def _catalog(self) -> Catalog:
        return self.versions.catalog() if self.versions is not None else self._static_catalog

    def _deployed(self) -> dict[str, list[str]]:
        if self.versions is None:
            return self._backend.deployed()
        self.versions.poll()
        return self.versions.deployed()

    # -- health and metadata -------------------------------------------------------------------------------
    def in_process(self) -> list[str]:
        """The ``target@tier`` workers running in this process, one hop less (``maas.serving.colocated``; the
        target is ``model:version`` behind a gateway, ``model`` with ``LocalBackend``)."""
        return [f"{target}@{tier}" for target, tier in self._backend.in_process()]

    def live(self) -> bool:
        return True

    def ready(self) -> bool:
        if self.warming():
            return False
        deployed = self._deployed()
        return any(deployed.get(name) for name in self._catalog.names())

    def warming(self) -> bool:
        """The backend is still building what it serves in process (``ColocatedBackend.warm``)."""
        return bool(getattr(self._backend, "warming", False))

    def server_metadata(self) -> dict[str, Any]:
        return {
            "name": SERVER_NAME,
            "version": __version__,
            "extensions": ["binary_tensor_data", "model_repository", "maas_routing"],
            # what a simulation of this gateway needs to run the same world (``maas sim-live``)
            "maas": {"policy": self._placer.policy.name, "world_seed": self._settings.seed},
        }

    def reader(self, authorization: str | None) -> Principal | None:
        """Who reads metadata: a key is needed when auth is on (401), limits are not counted."""
        return self.service.authenticate(authorization)

    def _visible(self, principal: Principal | None, name: str) -> None:
        tenant = None if principal is None else principal.tenant
        if tenant is not None and tenant.allowed_models is not None and name not in tenant.allowed_models:
            raise Forbidden(f"model {name!r} is not available to tenant {tenant.name!r}")

    def catalog(self, principal: Principal | None = None) -> list[dict[str, Any]]:
        deployed = self._deployed()
        tenant = None if principal is None else principal.tenant
        allowed = None if tenant is None else tenant.allowed_models
        return [
            {"name": m.name, "version": m.version, "task": m.task, "tiers": deployed.get(m.name, [])}
            for m in self._catalog.manifests()
            if allowed is None or m.name in allowed
        ]

    def model_metadata(self, name: str, version: str | None, principal: Principal | None = None) -> dict[str, Any]:
        self._visible(principal, name)
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
                "tiers": self._deployed().get(m.name, []),
                "quality": m.quality,
                "preprocessing": m.preprocessing,
            },
        }

    def model_ready(self, name: str, version: str | None, principal: Principal | None = None) -> bool:
        self._visible(principal, name)
        m = self._catalog.get(name, version)
        return bool(self._deployed().get(m.name))

    # -- inference -----------------------------------------------------------------------------------------
    def _profile(self, manifest: ModelManifest) -> dict[str, float]:
        key = (manifest.name, manifest.version)
        profile = self._host_profiles.get(key)
        if profile is None:
            profile = self._host_profiles[key] = manifest.host_ms_by_variant()
        return profile

    async def infer(
        self, name: str, version: str | None, body: bytes, headers: Mapping[str, str]
    ) -> InferResult:
        """Serve one V2 inference request as its tenant; every outcome is metered (see the module docstring)."""
        ticket = self.service.admit(headers.get("authorization"), name)
        meter: dict[str, Any] = {"bytes_in": len(body)}
        try:
            result = await self._infer(ticket, name, version, body, headers, meter)
        except MaasError as exc:
            exc.headers = {**ticket.headers, **(exc.headers or {})}
            self.service.finish(ticket, self.service.record(ticket, name, exc.status, reason=type(exc).__name__,
                                                            **meter))
            raise
        except BaseException:
            self.service.finish(ticket, self.service.record(ticket, name, 500, reason="internal", **meter))
            raise
        self.service.finish(ticket, self.service.record(ticket, name, 200, **meter))
        result.headers.update(ticket.headers)
        return result

    async def _infer(self, ticket: Ticket, name: str, version: str | None, body: bytes, headers: Mapping[str, str],
                     meter: dict[str, Any]) -> InferResult:
        t_start = self._perf()
        request = decode_request(body, _header_length(headers))
        placer = self._placer
        tenant = None if ticket.principal is None else ticket.principal.tenant
        hints = parse_hints(request.parameters, headers, tiers=placer.tier_names, site_exists=placer.site_exists,
                            default_site=(tenant and tenant.default_site) or placer.default_site,
                            default_objective=tenant.default_objective if tenant else None,
                            default_deadline_ms=(tenant.default_deadline_ms if tenant else None)
                            or self._settings.default_deadline_ms)
        meter["site"] = hints.site
        # version selection (rollouts): the split or the URL's version, and the tiers where that version is ready
        choice = None if self.versions is None else self.versions.choose(name, version, hints.tier)
        manifest = choice.manifest if choice is not None else self._catalog.get(name, version)
        meter["version"] = manifest.version
        inputs, batch = _validate_inputs(manifest, request, self._settings.max_batch)
        binary_outputs, wanted = _requested_outputs(manifest, request)
        ready = choice.tiers if choice is not None else self._deployed().get(manifest.name, [])
        deployed = self.service.tiers_for(ticket, ready, hints.tier)
        if not deployed:
            raise NotReady(f"model {manifest.name!r} is not deployed on any tier this tenant may use")
        output_bytes = manifest.output_bytes(batch)
        route = RouteRequest(
            model=manifest.name,
            site=hints.site,
            objective="energy" if self.service.shift_to_energy(ticket) else hints.objective,
            deadline_ms=hints.deadline_ms,
            strict=hints.strict,
            priority=tenant.priority if tenant else 5,
            input_bytes=len(body),
            output_bytes=output_bytes,
            pinned_tier=hints.tier,
            tenant=ticket.tenant,
        )
        profile = self._profile(manifest)
        placement = placer.place(route, deployed, profile)
        decision = placer.explain(route) if hints.explain else None  # now: the next completion changes it
        compute_factor = placer.compute_factor(placement, profile)

        up_ms, down_ms = placer.sample_link_ms(placement)
        t0 = self._perf()
        await self._clock.sleep_s(up_ms / 1e3)
        t1 = self._perf()
        target = choice.target if choice is not None else manifest.name
        placement, compute_factor, result, failed = await run_on_tier(  # another tier if this one fails
            placer, self._backend, route, deployed, profile, placement, target, inputs, compute_factor,
            started_s=t_start, perf=self._perf)
        t2 = self._perf()
        await self._clock.sleep_s(down_ms / 1e3)
        t3 = self._perf()

        outputs = {k: v for k, v in result.outputs.items() if k in wanted}
        # batched, the request waited through its whole batch's run but is charged its share (host_ms, compute_ms)
        ran_host_ms, ran_compute_ms = result.ran_ms()
        backend_ms = (t2 - t1) * 1e3
        hop_ms = max(0.0, backend_ms - result.queue_ms - max(ran_host_ms, ran_compute_ms))
        platform_ms = ((t0 - t_start) + (self._perf() - t3)) * 1e3 + hop_ms
        latency_ms = up_ms + result.queue_ms + ran_compute_ms + down_ms + platform_ms
        energy_j, carbon_g = placer.complete(placement, result.host_ms, result.compute_ms, hop_ms, latency_ms,
                                             batch_size=result.batch_size, batch_host_ms=result.batch_host_ms)
        params: dict[str, Any] = {
            "tier": placement.tier,
            "site": hints.site,
            "policy": placer.policy.name,
            "latency_ms": round(latency_ms, 3),
            "uplink_ms": round(up_ms, 3),
            "queue_ms": round(result.queue_ms, 3),
            "compute_ms": round(ran_compute_ms, 3),
            "host_ms": round(result.host_ms, 4),  # the real onnxruntime time the router learns host times from
            "downlink_ms": round(down_ms, 3),
            "platform_ms": round(platform_ms, 3),
            "energy_j": energy_j,
            "carbon_g": carbon_g,
            "variant": placer.precision(placement.tier),
            "model_version": manifest.version,
        }
        if result.batch_size is not None:
            params["batch_size"] = result.batch_size
            if result.batch_host_ms is not None:  # the batch's host time (sim-live measures the batch profile)
                params["batch_host_ms"] = round(result.batch_host_ms, 4)
        if failed:
            params["retried_from"] = failed
        if decision is not None:
            params["decision"] = json.dumps(decision, separators=(",", ":"))
        if hints.deadline_ms is not None:
            params["deadline_ms"] = hints.deadline_ms
            params["deadline_met"] = latency_ms <= hints.deadline_ms
        meter.update(tier=placement.tier, latency_ms=params["latency_ms"], uplink_ms=params["uplink_ms"],
                     queue_ms=params["queue_ms"], compute_ms=params["compute_ms"], downlink_ms=params["downlink_ms"],
                     platform_ms=params["platform_ms"], energy_j=energy_j, carbon_g=carbon_g,
                     deadline_met=params.get("deadline_met"))
        body_out, header_len = encode_response(
            model_name=manifest.name,
            model_version=manifest.version,
            request_id=request.id or ticket.request_id,
            outputs=outputs,
            parameters=params,
            binary_outputs=binary_outputs,
        )
        meter["bytes_out"] = len(body_out)
        return InferResult(body_out, header_len)


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
