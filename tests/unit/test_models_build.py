"""The model build: deterministic bytes, a cache that is a no-op when warm, sha256s that match, atomic writes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest

import models.build as build
from maas.errors import ConfigError
from maas.models import load_catalog, sha256_file
from models.build import build_models, is_fresh

SMALL = ["digits-mlp", "maintenance-clf"]



def _without_profile(path: Path) -> dict:
    manifest = json.loads(path.read_text())
    manifest.pop("profile")
    return manifest


def test_manifest_sha256_and_size_match_the_files(models_dir: Path) -> None:
    for manifest in load_catalog(models_dir).manifests():
        for variant, spec in manifest.variants.items():
            path = manifest.variant_path(models_dir, variant)
            assert sha256_file(path) == spec.sha256, path
            assert path.stat().st_size == spec.size_bytes, path
        manifest.verify(models_dir)
    tokenizer = load_catalog(models_dir).get("minilm-embed").tokenizer
    assert sha256_file(models_dir / "minilm-embed" / tokenizer.file) == tokenizer.sha256


def test_warm_build_is_a_no_op(models_dir: Path) -> None:
    before = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in models_dir.glob("*/manifest.json")}
    before_onnx = {p: p.stat().st_mtime_ns for p in models_dir.glob("*/*.onnx")}
    results = build_models(models_dir)
    assert [r.name for r in results] == ["digits-mlp", "maintenance-clf", "minilm-embed"]
    assert not any(r.built for r in results)
    assert {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in models_dir.glob("*/manifest.json")} == before
    assert {p: p.stat().st_mtime_ns for p in models_dir.glob("*/*.onnx")} == before_onnx


def test_small_models_rebuild_to_the_same_bytes(models_dir: Path, tmp_path: Path) -> None:
    first = build_models(tmp_path, SMALL, profile=False)
    assert all(r.built for r in first)
    for name in SMALL:
        # Same artifacts and the same manifest (apart from the measured latency) as the session's build.
        assert _without_profile(tmp_path / name / "manifest.json") == _without_profile(models_dir / name / "manifest.json")
        for onnx_file in ("model.onnx", "model.int8.onnx"):
            assert (tmp_path / name / onnx_file).read_bytes() == (models_dir / name / onnx_file).read_bytes()
    again = build_models(tmp_path, ["digits-mlp"], profile=False)
    assert not again[0].built
    forced = build_models(tmp_path, ["digits-mlp"], force=True, profile=False)
    assert forced[0].built
    assert forced[0].manifest.variants == first[0].manifest.variants


def test_stale_recipe_or_tampered_artifact_is_rebuilt(models_dir: Path, tmp_path: Path) -> None:
    shutil.copytree(models_dir / "digits-mlp", tmp_path / "digits-mlp")
    assert is_fresh(tmp_path, "digits-mlp") is not None
    path = tmp_path / "digits-mlp" / "manifest.json"
    original = path.read_text()
    manifest = json.loads(original)
    manifest["build"]["recipe_sha256"] = "0" * 64
    path.write_text(json.dumps(manifest))
    assert is_fresh(tmp_path, "digits-mlp") is None
    path.write_text(original)
    onnx_path = tmp_path / "digits-mlp" / "model.onnx"
    onnx_path.write_bytes(onnx_path.read_bytes()[:-1])
    assert is_fresh(tmp_path, "digits-mlp") is None
    onnx_path.unlink()
    assert is_fresh(tmp_path, "digits-mlp") is None


def test_failed_build_leaves_the_previous_build_and_no_debris(models_dir: Path, tmp_path: Path, monkeypatch) -> None:
    shutil.copytree(models_dir / "digits-mlp", tmp_path / "digits-mlp")
    (tmp_path / ".tmp-digits-mlp-interrupted").mkdir()  # debris of an earlier interrupted build

    def failing_build(work_dir: Path) -> dict:
        (work_dir / "model.onnx").write_bytes(b"half written")
        raise RuntimeError("interrupted")

    fake = SimpleNamespace(build=failing_build, profile_batch=dict, PROFILE_RUNS=1, __file__=build.digits_mlp.__file__)
    monkeypatch.setitem(build.RECIPES, "digits-mlp", fake)
    before = {p.name: p.read_bytes() for p in (tmp_path / "digits-mlp").iterdir()}
    with pytest.raises(RuntimeError, match="interrupted"):
        build_models(tmp_path, ["digits-mlp"], force=True)
    assert {p.name: p.read_bytes() for p in (tmp_path / "digits-mlp").iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [".build.lock", "digits-mlp"]


def test_unknown_model_is_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="allowed: digits-mlp, maintenance-clf, minilm-embed"):
        build_models(tmp_path, ["resnet"])


def test_cli_reports_cached_models_and_rejects_bad_names(models_dir: Path, capsys) -> None:
    assert build.main(["--out", str(models_dir)]) == 0
    out = capsys.readouterr().out
    assert out.count("cached") == 3 and "minilm-embed" in out
    with pytest.raises(SystemExit) as info:
        build.main(["--only", "resnet"])
    assert info.value.code == 2
