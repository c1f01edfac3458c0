"""The manifest schema and the catalog: loading, lookup, ModelNotFound, broken manifests -> ConfigError."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from maas.errors import ConfigError, ModelNotFound
from maas.models import Catalog, ModelManifest, TensorSpec, load_catalog, numpy_dtype

NAMES = ["digits-mlp", "maintenance-clf", "minilm-embed"]


@pytest.fixture()
def small_copy(models_dir: Path, tmp_path: Path) -> Path:
    """A models dir holding a copy of digits-mlp only, safe to break."""
    shutil.copytree(models_dir / "digits-mlp", tmp_path / "digits-mlp")
    return tmp_path


def test_catalog_lists_the_three_reference_models(models_dir: Path) -> None:
    catalog = load_catalog(models_dir)
    assert catalog.names() == NAMES
    assert [m.name for m in catalog.manifests()] == NAMES
    assert len(catalog) == 3 and "digits-mlp" in catalog and "nope" not in catalog


def test_fixed_interface_of_each_model(models_dir: Path) -> None:
    catalog = load_catalog(models_dir)
    signature = {
        m.name: ([(t.name, t.datatype, t.shape) for t in m.inputs], [(t.name, t.datatype, t.shape) for t in m.outputs])
        for m in catalog.manifests()
    }
    assert signature == {
        "minilm-embed": ([("text", "BYTES", [-1])], [("embedding", "FP32", [-1, 384])]),
        "digits-mlp": ([("pixels", "FP32", [-1, 64])], [("probabilities", "FP32", [-1, 10]), ("label", "INT64", [-1])]),
        "maintenance-clf": (
            [("features", "FP32", [-1, 6])],
            [("failure_probability", "FP32", [-1]), ("label", "INT64", [-1])],
        ),
    }
    minilm = catalog.get("minilm-embed")
    assert minilm.preprocessing == "tokenize" and minilm.tokenizer is not None
    assert catalog.get("digits-mlp").preprocessing is None


def test_every_manifest_has_variants_quality_provenance(models_dir: Path) -> None:
    for manifest in load_catalog(models_dir).manifests():
        assert set(manifest.variants) == {"fp32", "int8"}
        assert manifest.variants["int8"].agreement, manifest.name
        assert manifest.quality and manifest.source and manifest.licence and manifest.description
        for variant in manifest.variants:
            path = manifest.variant_path(models_dir, variant)
            assert path.is_file() and path.parent == models_dir / manifest.name
        assert manifest.version == "1"
        assert set(manifest.profile) in ({"fp32", "int8"}, set())


def test_get_by_version_and_default_version(models_dir: Path) -> None:
    catalog = load_catalog(models_dir)
    assert catalog.get("digits-mlp", "1") is catalog.get("digits-mlp")


def test_unknown_model_lists_known_names(models_dir: Path) -> None:
    with pytest.raises(ModelNotFound) as info:
        load_catalog(models_dir).get("resnet")
    assert info.value.status == 404
    for name in NAMES:
        assert name in info.value.message


def test_unknown_version_lists_known_versions(models_dir: Path) -> None:
    with pytest.raises(ModelNotFound, match=r"no version '7' \(known: 1\)"):
        load_catalog(models_dir).get("digits-mlp", "7")


def test_unknown_variant_is_model_not_found(models_dir: Path) -> None:
    manifest = load_catalog(models_dir).get("digits-mlp")
    with pytest.raises(ModelNotFound, match="no variant 'fp16'.*fp32, int8"):
        manifest.variant_path(models_dir, "fp16")


def test_highest_version_is_the_default(small_copy: Path) -> None:
    raw = json.loads((small_copy / "digits-mlp" / "manifest.json").read_text())
    versions = {v: ModelManifest.model_validate(raw | {"version": v}) for v in ("2", "10", "9")}
    catalog = Catalog(small_copy, list(versions.values()))
    assert catalog.get("digits-mlp").version == "10"  # numeric, not lexical, order
    assert catalog.names() == ["digits-mlp"] and len(catalog) == 3
    with pytest.raises(ConfigError, match="appears twice"):
        Catalog(small_copy, [versions["2"], versions["2"]])


def test_missing_models_dir_is_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="make models"):
        load_catalog(tmp_path / "absent")


def test_dot_dirs_and_dirs_without_manifest_are_skipped(small_copy: Path) -> None:
    (small_copy / ".tmp-digits-mlp-x").mkdir()
    (small_copy / "empty").mkdir()
    assert load_catalog(small_copy).names() == ["digits-mlp"]


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        (lambda m: m.pop("inputs"), "inputs"),
        (lambda m: m["outputs"][0].update(datatype="FLOAT32"), "outputs.0.datatype"),
        (lambda m: m["inputs"][0].update(shape=[0, 64]), "inputs.0.shape"),
        (lambda m: m["variants"].pop("fp32"), "variants"),
        (lambda m: m["variants"]["int8"].update(sha256="abc"), "variants.int8.sha256"),
        (lambda m: m.update(colour="blue"), "colour"),
        (lambda m: m.update(preprocessing="resize"), "preprocessing"),
    ],
)
def test_broken_manifest_names_file_and_field(small_copy: Path, edit, field: str) -> None:
    path = small_copy / "digits-mlp" / "manifest.json"
    raw = json.loads(path.read_text())
    edit(raw)
    path.write_text(json.dumps(raw))
    with pytest.raises(ConfigError) as info:
        load_catalog(small_copy)
    assert info.value.file == str(path)
    assert info.value.field == field


def test_invalid_json_is_config_error(small_copy: Path) -> None:
    path = small_copy / "digits-mlp" / "manifest.json"
    path.write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_catalog(small_copy)


def test_manifest_name_must_match_its_directory(small_copy: Path) -> None:
    shutil.move(small_copy / "digits-mlp", small_copy / "digits")
    with pytest.raises(ConfigError, match="directory is 'digits'"):
        load_catalog(small_copy)


def test_tokenize_without_tokenizer_is_rejected(models_dir: Path) -> None:
    raw = load_catalog(models_dir).get("minilm-embed").model_dump(mode="json")
    raw["tokenizer"] = None
    with pytest.raises(ValueError, match="needs a 'tokenizer'"):
        ModelManifest.model_validate(raw)


def test_v2_datatypes_map_to_numpy() -> None:
    assert numpy_dtype("FP32").name == "float32" and numpy_dtype("INT64").name == "int64"
    assert numpy_dtype("BYTES").kind == "O"
    with pytest.raises(ValueError, match="allowed"):
        numpy_dtype("FLOAT")
    with pytest.raises(ValueError):
        TensorSpec(name="x", datatype="FP32", shape=[-2])
