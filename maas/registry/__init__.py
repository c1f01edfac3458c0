"""The model registry: content-addressed artifacts, versions with their manifests, and ``maas models push``.

    registry = open_registry(load_settings(None))          # migrates the database to head
    result = registry.push(Path("model.onnx"), "churn-clf")  # checks, int8 variant, agreement, profile
    register_built(registry, Path("models/build"))          # the reference models, same door, idempotent
    catalog = registry.catalog()                            # maas.models.Catalog for the gateway
    registry.set_serving("churn-clf", 1, ["ground"])        # rollouts mark what they serve
    registry.remove("churn-clf", 1)                         # Conflict (409) while serving

Rows are committed after the artifacts are written, so a failed or killed push leaves the registry as it was.
"""

from __future__ import annotations

from pathlib import Path

from maas.registry.artifacts import ArtifactCorrupt, ArtifactStore
from maas.registry.builtin import register_built
from maas.registry.records import NAME_RULE, PushResult, VariantInfo, VersionInfo
from maas.registry.registry import Registry

__all__ = [
    "NAME_RULE",
    "ArtifactCorrupt",
    "ArtifactStore",
    "PushResult",
    "Registry",
    "VariantInfo",
    "VersionInfo",
    "open_registry",
    "register_built",
    "registry_catalog",
]


def open_registry(settings, clock=None, data_dir: Path | None = None) -> Registry:
    """The registry of ``settings`` (``data_dir``, ``database_url``, ``max_model_bytes``), schema migrated."""
    from maas.store import make_engine, migrate

    engine = make_engine(settings.effective_database_url(), busy_timeout_ms=settings.store_busy_timeout_ms)
    migrate(engine)
    return Registry(engine, Path(data_dir or settings.data_dir), max_model_bytes=settings.max_model_bytes, clock=clock)


def registry_catalog(settings):
    """The ``maas.models.Catalog`` of every registered version (what a gateway or tier worker loads)."""
    registry = open_registry(settings)
    try:
        return registry.catalog()
    finally:
        registry.engine.dispose()
