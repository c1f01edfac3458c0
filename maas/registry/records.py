"""What the registry returns: plain frozen records, detached from the database session."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from maas.errors import InvalidInput
from maas.models import ModelManifest
from maas.registry.tables import ModelVariant, ModelVersion

__all__ = ["VariantInfo", "VersionInfo", "PushResult", "check_name", "check_version", "NAME_RULE"]

NAME_RULE = "lowercase letters, digits, '-', '_' and '.', starting with a letter or digit, at most 64 characters"
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


def check_name(name: str) -> str:
    """``name`` if it is a valid model name; InvalidInput naming the rule otherwise."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise InvalidInput(f"name: {name!r} is not a valid model name (allowed: {NAME_RULE})")
    return name


def check_version(version: int | None) -> int | None:
    if version is not None and (isinstance(version, bool) or not isinstance(version, int) or version < 1):
        raise InvalidInput(f"version: {version!r} is not a version (allowed: an integer >= 1)")
    return version


@dataclass(frozen=True)
class VariantInfo:
    """One artifact of a version: ``host_ms_p50`` by batch size (None: not profiled at that size)."""

    variant: str
    sha256: str
    size_bytes: int
    host_ms_p50: dict[int, float | None]
    agreement: dict[str, float]

    @classmethod
    def from_row(cls, row: ModelVariant) -> VariantInfo:
        return cls(
            variant=row.variant,
            sha256=row.artifact_sha256,
            size_bytes=row.size_bytes,
            host_ms_p50={1: row.host_ms_p50_batch1, 4: row.host_ms_p50_batch4, 16: row.host_ms_p50_batch16},
            agreement=dict(row.agreement or {}),
        )


@dataclass(frozen=True)
class VersionInfo:
    """One registered version. ``manifest`` variant files are relative to the registry's artifacts directory."""

    name: str
    version: int
    description: str | None
    state: str
    serving_tiers: list[str]
    created_at_s: float
    fp32_sha256: str
    quantisation: str
    agreement_inputs: str
    variants: dict[str, VariantInfo]
    manifest: ModelManifest

    @classmethod
    def from_row(cls, name: str, row: ModelVersion, variants: list[ModelVariant]) -> VersionInfo:
        return cls(
            name=name,
            version=row.version,
            description=row.description,
            state=row.state,
            serving_tiers=list(row.serving_tiers or []),
            created_at_s=row.created_at_s,
            fp32_sha256=row.fp32_sha256,
            quantisation=row.quantisation,
            agreement_inputs=row.agreement_inputs,
            variants={v.variant: VariantInfo.from_row(v) for v in sorted(variants, key=lambda v: v.variant)},
            manifest=ModelManifest.model_validate(row.manifest),
        )


@dataclass(frozen=True)
class PushResult:
    """What a push did: ``created`` False means the same bytes were registered already (nothing changed)."""

    name: str
    version: int
    created: bool
    message: str
    info: VersionInfo
    seconds: float
    written: list[str] = field(default_factory=list)  # artifact files this push added to the store
