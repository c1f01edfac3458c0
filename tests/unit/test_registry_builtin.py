"""The reference models enter through the same door (idempotent), the catalog serves them, and the hand-written
migration matches the table classes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from maas.models import ModelRunner
from maas.registry import register_built
from maas.registry.tables import ModelVariant, ModelVersion, RegisteredModel
from maas.store import Base
from tests.unit.registry_support import open_test_registry, snapshot

_TABLES = {RegisteredModel.__tablename__, ModelVersion.__tablename__, ModelVariant.__tablename__}


def test_register_built_is_idempotent_and_the_catalog_serves_the_reference_models(
    models_dir: Path, catalog, tmp_path: Path
) -> None:
    registry = open_test_registry(f"sqlite:///{tmp_path}/data/maas.db", tmp_path / "data")
    first = register_built(registry, models_dir)
    assert [(r.name, r.version, r.created) for r in first] == [(n, 1, True) for n in catalog.names()]
    before = snapshot(registry)
    assert [r.created for r in register_built(registry, models_dir)] == [False] * len(first)
    assert snapshot(registry) == before
    served = registry.catalog()
    assert served.names() == catalog.names()
    for name in catalog.names():
        built, registered = catalog.get(name), served.get(name)
        assert registered.inputs == built.inputs and registered.profile == built.profile
        assert {k: v.sha256 for k, v in registered.variants.items()} == {k: v.sha256 for k, v in built.variants.items()}
    texts = np.array([b"satellite uplink", b"ground station"], dtype=object)
    expected = ModelRunner(catalog.get("minilm-embed"), models_dir, "int8").infer({"text": texts})
    got = ModelRunner(served.get("minilm-embed"), served.models_dir, "int8").infer({"text": texts})
    np.testing.assert_array_equal(got["embedding"], expected["embedding"])


def test_migration_matches_the_registry_tables(tmp_path: Path) -> None:
    registry = open_test_registry(f"sqlite:///{tmp_path}/data/maas.db", tmp_path / "data")
    with registry.engine.connect() as connection:
        diffs = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    mine = [d for d in diffs if _table_of(d) in _TABLES]
    assert mine == []


def _table_of(diff) -> str | None:
    item = diff[0] if isinstance(diff, list) else diff
    for part in item[1:]:
        name = getattr(part, "name", None) if not hasattr(part, "table") else part.table.name
        if name:
            return name
    return None
