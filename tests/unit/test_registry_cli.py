"""``maas models push|list|show|rm`` over a registry in a tmp data dir; bad input exits 2 naming the field."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from maas.cli.models import app
from tests.unit.registry_support import sklearn_onnx

runner = CliRunner()


def test_push_list_show_rm(tmp_path: Path) -> None:
    data = ["--data-dir", str(tmp_path / "data")]
    model = sklearn_onnx(tmp_path / "clf.onnx")
    result = runner.invoke(app, ["push", str(model), "--name", "churn-clf", "--description", "churn", *data])
    assert result.exit_code == 0, result.output
    assert "registered churn-clf:1" in result.output and "in:  features FP32[-1, 4]" in result.output
    assert "vs fp32 (generated inputs, dynamic int8)" in result.output and "b16" in result.output
    again = runner.invoke(app, ["push", str(model), "--name", "churn-clf", *data])
    assert again.exit_code == 0 and "nothing changed" in again.output
    listed = runner.invoke(app, ["list", *data])
    assert listed.exit_code == 0 and listed.output.startswith("model")
    rows = [line.split() for line in listed.output.splitlines()[3:]]  # header, units, rule, then a row per variant
    assert [r[:3] for r in rows if r and r[0] == "churn-clf:1"] == [["churn-clf:1", "fp32", "ready"],
                                                                    ["churn-clf:1", "int8", "ready"]]
    shown = json.loads(runner.invoke(app, ["show", "churn-clf", *data]).output)
    assert shown["version"] == 1 and shown["manifest"]["outputs"][1]["name"] == "probabilities"
    assert runner.invoke(app, ["rm", "churn-clf:1", *data]).output == "removed churn-clf:1\n"
    assert "no models registered" in runner.invoke(app, ["list", *data]).output


def test_bad_input_exits_2_naming_the_field(tmp_path: Path) -> None:
    data = ["--data-dir", str(tmp_path / "data")]
    model = str(sklearn_onnx(tmp_path / "clf.onnx"))
    cases = [
        (["push", model, "--name", "Bad Name", *data], "name: 'Bad Name' is not a valid model name (allowed:"),
        (["push", model, "--name", "ok", "--version", "x", *data], "--version: 'x' is not a version (allowed:"),
        (["push", str(tmp_path / "absent.onnx"), "--name", "ok", *data], "path: cannot read"),
        (["rm", "churn-clf", *data], "NAME:VERSION: 'churn-clf' (allowed:"),
        (["show", "nothing", *data], "unknown model 'nothing' (registered: none)"),
    ]
    for argv, text in cases:
        result = runner.invoke(app, argv)
        assert result.exit_code == 2 and text in result.output, (argv, result.output)
