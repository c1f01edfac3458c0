"""Everything a push computes before the registry changes: checks, signature, int8 variant, agreement, profiles.

``prepare(path, ...)`` reads the file once and returns a ``Prepared`` (bytes and measurements, nothing written).
Steps, each failing with a clear ``MaasError`` that names the field:
    1. size (<= ``max_model_bytes``, else PayloadTooLarge 413) and the bytes' sha256;
    2. ``onnx.checker``, an onnxruntime CPU session (the op it cannot run is named), the V2 signature;
    3. a smoke inference on generated inputs;
    4. the int8 variant: dynamic quantisation, or static when calibration inputs (``.npz``) are given;
    5. int8's agreement with fp32 on the calibration inputs or on generated ones (``agreement_inputs`` says which);
    6. host latency of both variants at batch 1, 4 and 16.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from maas.errors import InvalidInput, PayloadTooLarge
from maas.models import ModelManifest, Variant
from maas.registry.checks import Signature, open_session, parse_onnx, read_signature, smoke
from maas.registry.variants import agreement, agreement_feeds, profile, quantize_int8, read_calibration

__all__ = ["Prepared", "read_model_file", "prepare", "push_manifest"]


@dataclass(frozen=True)
class Prepared:
    """A checked model and its int8 variant, measured; not yet in the registry."""

    fp32: bytes
    fp32_sha256: str
    int8: bytes
    int8_sha256: str
    signature: Signature
    quantisation: str  # dynamic | static
    agreement: dict[str, float]
    agreement_inputs: str  # generated | calibration
    profile: dict[str, dict[str, float]]  # variant -> host_ms_p50, host_ms_p50_batch4, ...
    opsets: dict[str, int]
    producer: str


def read_model_file(path: Path, max_model_bytes: int) -> tuple[bytes, str]:
    """The file's bytes and sha256; InvalidInput if it cannot be read, PayloadTooLarge above the limit."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if not path.is_file():
            raise InvalidInput(f"path: {path} is not a file")
        if size > max_model_bytes:
            raise PayloadTooLarge(
                f"path: {path} is {size:,} bytes, larger than max_model_bytes ({max_model_bytes:,}); "
                "raise MAAS_MAX_MODEL_BYTES to accept it"
            )
        data = path.read_bytes()
    except OSError as exc:
        raise InvalidInput(f"path: cannot read {path}: {exc.strerror}") from None
    return data, hashlib.sha256(data).hexdigest()


PREPARE_STEPS = 6  # what ``prepare`` reports to ``progress``


def prepare(
    path: Path,
    data: bytes,
    sha256: str,
    calibration: Path | None = None,
    profile_budget_s: float = 0.3,
    progress: Callable[[str], None] = lambda _done: None,
) -> Prepared:
    """Check ``data`` (the bytes of ``path``), build and measure its int8 variant; writes nothing. ``progress`` is
    told each of the ``PREPARE_STEPS`` steps as it is done (the CLI's progress bar)."""
    label = Path(path).name
    model = parse_onnx(data, label)
    session = open_session(data, label)
    progress("checked (onnx.checker, onnxruntime CPU)")
    signature = smoke(session, read_signature(session, label), label)
    progress("smoke inference")
    feeds_calibration = read_calibration(calibration, signature) if calibration is not None else None
    int8, method = quantize_int8(data, feeds_calibration)
    int8_session = open_session(int8, f"{label} (int8)")
    progress(f"int8 ({method})")
    feeds, source = agreement_feeds(signature, feeds_calibration)
    measured = agreement(session, int8_session, signature, feeds)
    progress("int8 agreement with fp32")
    profiles = {"fp32": profile(session, signature, profile_budget_s)}
    progress("fp32 profiled (batch 1, 4, 16)")
    profiles["int8"] = profile(int8_session, signature, profile_budget_s)
    progress("int8 profiled (batch 1, 4, 16)")
    return Prepared(
        fp32=data,
        fp32_sha256=sha256,
        int8=int8,
        int8_sha256=hashlib.sha256(int8).hexdigest(),
        signature=signature,
        quantisation=method,
        agreement=measured,
        agreement_inputs=source,
        profile=profiles,
        opsets={entry.domain or "ai.onnx": int(entry.version) for entry in model.opset_import},
        producer=f"{model.producer_name} {model.producer_version}".strip(),
    )


def push_manifest(
    prepared: Prepared,
    name: str,
    version: int,
    description: str | None,
    files: dict[str, str],
    source_file: str,
    pushed_at_s: float,
) -> ModelManifest:
    """The manifest of a pushed version; ``files`` maps variant -> artifact path relative to the store."""
    variants = {
        "fp32": Variant(file=files["fp32"], sha256=prepared.fp32_sha256, size_bytes=len(prepared.fp32)),
        "int8": Variant(
            file=files["int8"],
            sha256=prepared.int8_sha256,
            size_bytes=len(prepared.int8),
            agreement=prepared.agreement,
        ),
    }
    return ModelManifest(
        name=name,
        version=str(version),
        task="custom",
        description=description or f"{name}: ONNX model pushed from {source_file}",
        inputs=prepared.signature.inputs,
        outputs=prepared.signature.outputs,
        variants=variants,
        source=f"pushed with `maas models push` from {source_file} ({prepared.producer or 'unknown producer'})",
        licence="not stated (pushed by its owner)",
        profile=prepared.profile,
        build={
            "pushed_at_s": pushed_at_s,
            "quantisation": prepared.quantisation,
            "agreement_inputs": prepared.agreement_inputs,
            "profile_inputs": "generated",
            "opsets": prepared.opsets,
        },
    )
