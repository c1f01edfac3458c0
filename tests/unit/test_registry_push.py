"""Registry push/list/show/remove on SQLite and PostgreSQL (skipped without a server), with sklearn models."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from maas.errors import Conflict, ModelNotFound
from maas.models import ModelRunner
from tests.support.databases import database_url, postgres_base_url  # noqa: F401
from tests.unit.registry_support import FEATURES, open_test_registry, sklearn_onnx, snapshot


@pytest.fixture
def registry(database_url, tmp_path):  # noqa: F811
    reg = open_test_registry(database_url, tmp_path / "data")
    yield reg
    reg.engine.dispose()


def test_push_reads_signature_builds_int8_measures_agreement_and_profile(registry, tmp_path: Path) -> None:
    result = registry.push(sklearn_onnx(tmp_path / "clf.onnx"), "churn-clf", description="churn")
    assert result.created and result.version == 1 and result.info.state == "ready"
    m = result.info.manifest
    assert [(s.name, s.datatype, s.shape) for s in m.inputs] == [("features", "FP32", [-1, 4])]
    assert [(s.name, s.datatype, s.shape) for s in m.outputs] == [
        ("label", "INT64", [-1]),
        ("probabilities", "FP32", [-1, 3]),
    ]
    assert set(result.info.variants) == {"fp32", "int8"} and result.info.agreement_inputs == "generated"
    assert m.build["agreement_inputs"] == "generated" and m.build["quantisation"] == "dynamic"
    int8 = result.info.variants["int8"]
    assert int8.agreement["samples"] == 64 and int8.agreement["label.equal_fraction"] == 1.0
    for variant in result.info.variants.values():
        assert all(ms is not None and ms > 0 for ms in variant.host_ms_p50.values())
        assert set(variant.host_ms_p50) == {1, 4, 16}
    assert m.profile["int8"]["host_ms_p50_batch16"] > 0 and m.profile["fp32"]["host_ms_p50"] > 0
    path = registry.artifacts.path(int8.sha256)
    assert path == registry.artifacts.root / int8.sha256[:2] / f"{int8.sha256}.onnx" and path.is_file()


def test_catalog_serves_a_pushed_model_like_onnxruntime_on_the_file(registry, tmp_path: Path) -> None:
    for kind, name, batch in (
        ("logistic", "churn-clf", FEATURES[:9]),
        ("tree", "wear-tree", (FEATURES[:9] * 3).astype(np.int64)),
    ):
        path = sklearn_onnx(tmp_path / f"{kind}.onnx", kind)
        registry.push(path, name)
        catalog = registry.catalog()
        manifest = catalog.get(name)
        expected = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(
            None, {manifest.inputs[0].name: batch}
        )
        got = ModelRunner(manifest, catalog.models_dir, "fp32").infer({manifest.inputs[0].name: batch})
        np.testing.assert_array_equal(got["label"], expected[0])
        np.testing.assert_allclose(got["probabilities"], expected[1], rtol=1e-6)
        assert ModelRunner(manifest, catalog.models_dir, "int8").infer({manifest.inputs[0].name: batch})[
            "label"
        ].shape == (9,)
    assert registry.catalog().names() == ["churn-clf", "wear-tree"]


def test_same_bytes_is_a_noop_other_bytes_are_the_next_version(registry, tmp_path: Path) -> None:
    first = sklearn_onnx(tmp_path / "a.onnx")
    registry.push(first, "churn-clf")
    before = snapshot(registry)
    again = registry.push(first, "churn-clf")
    assert not again.created and again.version == 1 and "nothing changed" in again.message
    assert registry.push(first, "churn-clf", version=1).created is False
    assert snapshot(registry) == before
    second = registry.push(sklearn_onnx(tmp_path / "b.onnx", "tree"), "churn-clf")
    assert second.created and second.version == 2
    assert [(i.name, i.version) for i in registry.list()] == [("churn-clf", 1), ("churn-clf", 2)]
    assert registry.show("churn-clf").version == 2 and registry.show("churn-clf", 1).version == 1
    copy = registry.push(first, "churn-copy")  # same bytes, other name: one artifact file serves both
    assert copy.created and copy.written == []


def test_same_version_with_other_bytes_is_a_conflict_and_changes_nothing(registry, tmp_path: Path) -> None:
    registry.push(sklearn_onnx(tmp_path / "a.onnx"), "churn-clf")
    before = snapshot(registry)
    with pytest.raises(Conflict) as caught:
        registry.push(sklearn_onnx(tmp_path / "b.onnx", "tree"), "churn-clf", version=1)
    assert caught.value.status == 409 and "churn-clf:1 is registered with other bytes" in caught.value.message
    assert snapshot(registry) == before


def test_static_int8_from_a_calibration_file(registry, tmp_path: Path) -> None:
    np.savez(tmp_path / "calib.npz", features=FEATURES[:40])
    result = registry.push(sklearn_onnx(tmp_path / "a.onnx"), "churn-clf", calibration=tmp_path / "calib.npz")
    assert result.info.quantisation == "static" and result.info.agreement_inputs == "calibration"
    assert result.info.variants["int8"].agreement["samples"] == 40


def test_remove_refuses_a_serving_version_then_deletes_its_unshared_artifacts(registry, tmp_path: Path) -> None:
    registry.push(sklearn_onnx(tmp_path / "a.onnx"), "churn-clf")
    empty = snapshot(registry)
    registry.push(sklearn_onnx(tmp_path / "b.onnx", "tree"), "churn-clf")
    info = registry.set_serving("churn-clf", 2, ["ground", "base-station"])
    assert info.state == "serving" and info.serving_tiers == ["base-station", "ground"]
    with pytest.raises(Conflict, match="serving on base-station, ground"):
        registry.remove("churn-clf", 2)
    assert registry.set_serving("churn-clf", 2, []).state == "ready"
    registry.remove("churn-clf", 2)
    assert snapshot(registry) == empty
    registry.remove("churn-clf", 1)
    assert registry.list() == [] and snapshot(registry) == ({}, [])
    with pytest.raises(ModelNotFound, match="registered: none"):
        registry.show("churn-clf")
