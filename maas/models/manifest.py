"""Model manifests: what a built model is, what it takes and returns, and where its artifacts are.

A manifest is the JSON file ``<models_dir>/<name>/manifest.json`` written by ``python -m models.build``.
It describes the model as a V2 (Open Inference Protocol) client sees it: ``inputs`` are the tensors a client
sends (for ``minilm-embed`` that is text, tokenised by the platform, see ``preprocessing``), ``outputs`` are the
tensors it gets back. ``variants`` lists the ONNX artifacts (``fp32`` and its ``int8`` quantisation), each with
its sha256 and its agreement with fp32.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from maas.errors import ConfigError, ModelNotFound

__all__ = [
    "V2_DATATYPES",
    "TensorSpec",
    "TokenizerSpec",
    "Variant",
    "ModelManifest",
    "numpy_dtype",
    "sha256_file",
]

#: V2 datatype -> numpy dtype (BYTES tensors are numpy object arrays of ``bytes``).
V2_DATATYPES: dict[str, np.dtype] = {
    "BOOL": np.dtype(np.bool_),
    "UINT8": np.dtype(np.uint8),
    "UINT16": np.dtype(np.uint16),
    "UINT32": np.dtype(np.uint32),
    "UINT64": np.dtype(np.uint64),
    "INT8": np.dtype(np.int8),
    "INT16": np.dtype(np.int16),
    "INT32": np.dtype(np.int32),
    "INT64": np.dtype(np.int64),
    "FP16": np.dtype(np.float16),
    "FP32": np.dtype(np.float32),
    "FP64": np.dtype(np.float64),
    "BYTES": np.dtype(object),
}


def numpy_dtype(datatype: str) -> np.dtype:
    """The numpy dtype of a V2 datatype (``"FP32"`` -> float32, ``"BYTES"`` -> object)."""
    try:
        return V2_DATATYPES[datatype]
    except KeyError:
        raise ValueError(f"unknown V2 datatype {datatype!r} (allowed: {', '.join(V2_DATATYPES)})") from None


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TensorSpec(_Strict):
    """One named tensor as a V2 client sees it; ``-1`` in ``shape`` is a dynamic dimension (the batch)."""

    name: str = Field(min_length=1)
    datatype: str
    shape: list[int]
    description: str = ""

    @field_validator("datatype")
    @classmethod
    def _known_datatype(cls, value: str) -> str:
        numpy_dtype(value)
        return value

    @field_validator("shape")
    @classmethod
    def _valid_shape(cls, value: list[int]) -> list[int]:
        if any(dim < -1 or dim == 0 for dim in value):
            raise ValueError(f"dimensions must be positive or -1 (dynamic), got {value}")
        return value


class TokenizerSpec(_Strict):
    """How the platform turns text into token ids for a ``preprocessing: "tokenize"`` model."""

    file: str = Field(description="tokenizer.json (Hugging Face ``tokenizers`` format), relative to the model dir")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    max_length: int = Field(gt=0, description="longer texts are truncated to this many tokens")
    padding: Literal["longest"] = Field("longest", description="pad each batch to its longest sequence")


class Variant(_Strict):
    """One ONNX artifact of a model: ``file`` is relative to the model's dir; ``agreement`` is measured vs fp32."""

    file: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size_bytes: int | None = None
    agreement: dict[str, float] = Field(default_factory=dict)


class ModelManifest(_Strict):
    """A built model: identity, V2 signature, artifacts per variant, measured quality, provenance."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]*$")
    version: str = Field(min_length=1)
    task: str
    description: str
    inputs: list[TensorSpec] = Field(min_length=1)
    outputs: list[TensorSpec] = Field(min_length=1)
    preprocessing: Literal["tokenize"] | None = None
    tokenizer: TokenizerSpec | None = None
    variants: dict[str, Variant]
    quality: dict[str, float] = Field(default_factory=dict)
    source: str
    licence: str
    profile: dict[str, dict[str, float]] = Field(
        default_factory=dict,
        description="per variant, host latency measured at build time, e.g. {'fp32': {'host_ms_p50': 0.05}}",
    )
    build: dict[str, object] = Field(default_factory=dict)

    @field_validator("variants")
    @classmethod
    def _has_fp32(cls, value: dict[str, Variant]) -> dict[str, Variant]:
        if "fp32" not in value:
            raise ValueError(f"a model needs an 'fp32' variant (got {sorted(value)})")
        return value

    @model_validator(mode="after")
    def _tokenizer_when_tokenizing(self) -> ModelManifest:
        if self.preprocessing == "tokenize" and self.tokenizer is None:
            raise ValueError("preprocessing 'tokenize' needs a 'tokenizer'")
        return self

    def host_ms(self, variant: str = "fp32") -> float | None:
        """Median host latency (batch 1) measured for ``variant``, else fp32's; None when none was measured."""
        for name in (variant, "fp32"):
            value = self.profile.get(name, {}).get("host_ms_p50")
            if value is not None:
                return float(value)
        return None

    def host_ms_by_variant(self) -> dict[str, float]:
        """``{variant: host_ms_p50}`` for every variant with a measured profile."""
        return {v: float(p["host_ms_p50"]) for v, p in self.profile.items() if "host_ms_p50" in p}

    def output_bytes(self, batch: int = 1) -> int:
        """Bytes of the outputs of a ``batch``-row request as the gateway accounts them (4 per element; a
        dynamic dimension past the batch counts 1), the size its router estimates the downlink for."""
        total = 0
        for spec in self.outputs:
            per_row = 1
            for d in spec.shape[1:]:
                per_row *= max(d, 1)
            total += per_row * batch * 4
        return total

    def variant_path(self, models_dir: Path, variant: str = "fp32") -> Path:
        """Where the ONNX file of ``variant`` lives under ``models_dir``; ModelNotFound for an unknown variant."""
        try:
            spec = self.variants[variant]
        except KeyError:
            raise ModelNotFound(
                f"model {self.name!r} version {self.version!r} has no variant {variant!r} "
                f"(known: {', '.join(sorted(self.variants))})"
            ) from None
        return Path(models_dir) / self.name / spec.file

    def artifact_files(self, variants: list[str] | None = None) -> dict[str, str]:
        """``{relative file: sha256}`` of the ONNX files of ``variants`` (default all) and the tokenizer."""
        chosen = list(self.variants) if variants is None else variants
        for variant in chosen:
            self.variant_path(Path(), variant)  # ModelNotFound for an unknown variant
        files = {self.variants[v].file: self.variants[v].sha256 for v in chosen}
        if self.tokenizer is not None:
            files[self.tokenizer.file] = self.tokenizer.sha256
        return files

    def verify(self, models_dir: Path, variants: list[str] | None = None) -> None:
        """Check that the artifacts of ``variants`` (default all) exist and match their sha256.

        Raises ConfigError naming the file; ModelNotFound for an unknown variant.
        """
        model_dir = Path(models_dir) / self.name
        for file, expected in self.artifact_files(variants).items():
            path = model_dir / file
            if not path.is_file():
                raise ConfigError(str(path), "file", "artifact is missing; run `make models`")
            actual = sha256_file(path)
            if actual != expected:
                raise ConfigError(
                    str(path), "sha256", f"is {actual}, manifest says {expected}; rebuild with `make models`"
                )
