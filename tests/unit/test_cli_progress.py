"""Progress of long CLI operations: plain lines off a terminal (one per step, with the count), a bar on one; the
model push reports each of its steps; ``maas sim -o json`` keeps stderr free of progress."""

from __future__ import annotations

import io
from pathlib import Path

from typer.testing import CliRunner

from maas.cli.main import app
from maas.cli.progress import Steps
from maas.registry.push import PREPARE_STEPS
from maas.settings import ROOT
from tests.unit.registry_support import open_test_registry, sklearn_onnx


def test_plain_lines_off_a_terminal() -> None:
    out = io.StringIO()
    with Steps(2, "push m", stream=out) as step:
        step("checked")
        step("stored")
    lines = out.getvalue().splitlines()
    assert [line.split(" (")[0] for line in lines] == ["push m: checked", "push m: stored"]
    assert "(1/2," in lines[0] and "(2/2," in lines[1]


def test_a_bar_on_a_terminal_and_nothing_when_disabled() -> None:
    out = io.StringIO()
    with Steps(2, "push m", stream=out, force_terminal=True) as step:
        step("checked")
        step("stored")
    assert step.done == 2 and "push m: checked (" not in out.getvalue()  # the bar, not the plain lines
    quiet = io.StringIO()
    with Steps(2, "x", stream=quiet, enabled=False) as step:
        step("a")
    assert quiet.getvalue() == ""


def test_a_push_reports_every_step(tmp_path: Path) -> None:
    registry = open_test_registry(f"sqlite:///{tmp_path / 'maas.db'}", tmp_path / "data")
    heard: list[str] = []
    registry.push(sklearn_onnx(tmp_path / "m.onnx", "tree"), "churn", progress=heard.append)
    assert len(heard) == PREPARE_STEPS + 1 and heard[0].startswith("checked") and heard[-1].startswith("stored")


def test_sim_json_output_has_no_progress_on_stderr() -> None:
    scenario = ROOT / "cluster" / "scenarios" / "remote-satellite.yaml"
    res = CliRunner().invoke(app, ["sim", "--scenario", str(scenario), "--policies", "nearest", "--duration-s", "10",
                                   "--no-oracle", "-o", "json"])
    assert res.exit_code == 0 and "done (" not in res.stderr
    res = CliRunner().invoke(app, ["sim", "--scenario", str(scenario), "--policies", "nearest", "--duration-s", "10",
                                   "--no-oracle"])
    assert res.exit_code == 0 and "nearest done (1/1," in res.stderr
