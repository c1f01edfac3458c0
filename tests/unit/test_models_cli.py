"""``maas models``: list/show/verify/build over the catalog; bad input exits 2 with the allowed values."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from typer.testing import CliRunner

from maas.cli.models import app

runner = CliRunner()



def test_list_shows_every_model_with_variants(models_dir: Path) -> None:
    result = runner.invoke(app, ["list", "--models-dir", str(models_dir)])
    assert result.exit_code == 0, result.output
    for name in ("digits-mlp v1", "maintenance-clf v1", "minilm-embed v1"):
        assert name in result.output
    rows = [line.split() for line in result.output.splitlines()]
    assert sum(1 for r in rows if len(r) > 2 and r[2] == "int8") == 3  # one row per (model, variant)
    wide = runner.invoke(app, ["list", "--models-dir", str(models_dir), "-o", "wide"]).output
    assert "tokenised by" in wide and "test_accuracy=" in wide


def test_list_json_is_the_manifests(models_dir: Path) -> None:
    result = runner.invoke(app, ["list", "--models-dir", str(models_dir), "-o", "json"])
    assert result.exit_code == 0
    assert [m["name"] for m in json.loads(result.output)] == ["digits-mlp", "maintenance-clf", "minilm-embed"]


def test_show_and_unknown_model(models_dir: Path) -> None:
    result = runner.invoke(app, ["show", "maintenance-clf", "--models-dir", str(models_dir)])
    assert result.exit_code == 0 and json.loads(result.output)["outputs"][0]["name"] == "failure_probability"
    result = runner.invoke(app, ["show", "resnet", "--models-dir", str(models_dir)])
    assert result.exit_code == 2 and "known: digits-mlp, maintenance-clf, minilm-embed" in result.output


def test_bad_output_format_exits_2(models_dir: Path) -> None:
    result = runner.invoke(app, ["list", "--models-dir", str(models_dir), "-o", "xml"])
    assert result.exit_code == 2 and "allowed: table, wide, json, csv" in result.output


def test_verify_catches_a_changed_artifact(models_dir: Path, tmp_path: Path) -> None:
    shutil.copytree(models_dir / "maintenance-clf", tmp_path / "maintenance-clf")
    assert runner.invoke(app, ["verify", "--models-dir", str(tmp_path)]).exit_code == 0
    (tmp_path / "maintenance-clf" / "model.int8.onnx").write_bytes(b"not a model")
    result = runner.invoke(app, ["verify", "--models-dir", str(tmp_path)])
    assert result.exit_code == 1 and "FAILED  maintenance-clf" in result.output


def test_missing_models_dir_exits_2(tmp_path: Path) -> None:
    result = runner.invoke(app, ["list", "--models-dir", str(tmp_path / "absent")])
    assert result.exit_code == 2 and "make models" in result.output


def test_build_is_cached(models_dir: Path) -> None:
    result = runner.invoke(app, ["build", "--models-dir", str(models_dir)])
    assert result.exit_code == 0 and result.output.count("cached") == 3
