"""The reference models enter the registry through the same door as pushes: ``register_built(registry, dir)``.

Each model ``make models`` built under ``models_dir`` (manifest + ONNX files + tokenizer) is checked like a push
(``onnx.checker``, an onnxruntime CPU session) and stored with its recipe's own int8 variant, agreement (measured
on the recipe's test data) and profile. Idempotent: the same bytes again change nothing; a rebuilt model with
other bytes under the same version is a Conflict (bump ``VERSION`` in its recipe, or remove the old version).
"""

from __future__ import annotations

import time
from pathlib import Path

from maas.errors import InvalidInput
from maas.models import ModelManifest, load_catalog
from maas.registry.artifacts import sha256_bytes
from maas.registry.checks import open_session, parse_onnx
from maas.registry.records import PushResult, check_name
from maas.registry.registry import Entry, Registry

__all__ = ["register_built"]

_PROFILE_KEYS = {1: "host_ms_p50", 4: "host_ms_p50_batch4", 16: "host_ms_p50_batch16"}


def register_built(registry: Registry, models_dir: Path) -> list[PushResult]:
    """Register every model built under ``models_dir``; returns one result per model (``created`` False: no-op)."""
    catalog = load_catalog(Path(models_dir))
    results = []
    for manifest in catalog.manifests():
        start_s = time.perf_counter()
        manifest.verify(catalog.models_dir)
        entry = _entry(registry, manifest, catalog.models_dir)
        same = registry.find_same(entry.name, entry.version, entry.fp32_sha256, entry)
        if same is not None:
            results.append(registry.unchanged(same, start_s))
            continue
        for sha256, (blob, suffix) in entry.blobs.items():
            if suffix == ".onnx":
                label = f"{manifest.name} artifact {sha256[:12]}"
                parse_onnx(blob, label)
                open_session(blob, label)
        results.append(registry.add(entry, start_s))
    return results


def _entry(registry: Registry, manifest: ModelManifest, models_dir: Path) -> Entry:
    name = check_name(manifest.name)
    if not manifest.version.isdigit() or int(manifest.version) < 1:
        raise InvalidInput(f"{name}: version: {manifest.version!r} (allowed: an integer >= 1 in the registry)")
    store = registry.artifacts
    blobs: dict[str, tuple[bytes, str]] = {}
    variants, rows = {}, []
    for variant, spec in manifest.variants.items():
        data = manifest.variant_path(models_dir, variant).read_bytes()
        blobs[spec.sha256] = (data, ".onnx")
        variants[variant] = spec.model_copy(update={"file": store.relative(spec.sha256)})
        profile = manifest.profile.get(variant, {})
        rows.append(
            {
                "variant": variant,
                "sha256": spec.sha256,
                "size_bytes": len(data),
                "host_ms_p50": {batch: profile.get(key) for batch, key in _PROFILE_KEYS.items()},
                "agreement": dict(spec.agreement),
            }
        )
    update: dict = {"variants": variants}
    tokenizer_sha = None
    if manifest.tokenizer is not None:
        tokenizer_sha = manifest.tokenizer.sha256
        data = (Path(models_dir) / name / manifest.tokenizer.file).read_bytes()
        if sha256_bytes(data) != tokenizer_sha:
            raise InvalidInput(f"{name}: tokenizer {manifest.tokenizer.file} does not match its sha256")
        blobs[tokenizer_sha] = (data, ".json")
        update["tokenizer"] = manifest.tokenizer.model_copy(update={"file": store.relative(tokenizer_sha, ".json")})
    stored = manifest.model_copy(update=update)
    return Entry(
        name=name,
        version=int(manifest.version),
        description=manifest.description,
        fp32_sha256=manifest.variants["fp32"].sha256,
        tokenizer_sha256=tokenizer_sha,
        quantisation="built",
        agreement_inputs="built",
        blobs=blobs,
        variants=rows,
        make_manifest=lambda _version: stored,
        strict=True,
    )
