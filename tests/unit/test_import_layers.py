"""The layer table is enforced, not only described: ``lint-imports`` with the project's own contracts
([tool.importlinter] in pyproject.toml) fails on a forbidden arrow. Each case builds a small stand-in ``maas``
package (one empty module per layer) in a temporary directory, so the verdicts do not depend on the state of the
real tree; the last test (and ``make lint``) checks the real one."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
PACKAGES = ("tiers", "routing", "placement", "models", "store", "registry", "metering", "api", "serving", "sim",
            "loadtest", "simlive", "cli")
SHARED = ("errors", "clock", "settings")


def _tree(root: Path, packages: tuple[str, ...] = PACKAGES) -> Path:
    """A stand-in ``maas``: the shared top-level modules and one package per layer, importing nothing."""
    pkg = root / "maas"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    for name in SHARED:
        (pkg / f"{name}.py").write_text("")
    for name in packages:
        (pkg / name).mkdir()
        (pkg / name / "__init__.py").write_text("")
        (pkg / name / "core.py").write_text("")
    shutil.copy(ROOT / "pyproject.toml", root / "pyproject.toml")
    return root


def _write(root: Path, module: str, source: str) -> None:
    path = root.joinpath(*module.split(".")).with_suffix(".py")
    path.write_text(source)


def _lint(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(LINT_IMPORTS), "--no-cache", "--no-logo", "--config", "pyproject.toml"],
                          cwd=root, capture_output=True, text=True, timeout=120)


def _verdicts(out: str) -> dict[str, str]:
    """Contract name -> KEPT/BROKEN, from the report (long names wrap over two lines)."""
    text = " ".join(out.split())
    found = {}
    for name in _contract_names():
        for verdict in ("KEPT", "BROKEN"):
            if f"{name} {verdict}" in text:
                found[name] = verdict
    return found


def _contract_names() -> list[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    return [c["name"] for c in config["contracts"]]


def test_every_contract_is_kept_by_a_tree_that_follows_the_table(tmp_path):
    root = _tree(tmp_path)
    # the allowed arrows, direct and through the shared modules
    _write(root, "maas.routing.core", "import maas.tiers.core\nimport maas.clock\n")
    _write(root, "maas.placement.core", "import maas.routing.core\nimport maas.tiers.core\n")
    _write(root, "maas.api.core", "import maas.placement.core\nimport maas.models.core\nimport maas.metering.core\n")
    _write(root, "maas.sim.core", "import maas.placement.core\n")
    _write(root, "maas.simlive.core", "import maas.sim.core\nimport maas.loadtest.core\n")
    _write(root, "maas.serving.core", "import maas.api.core\n")
    _write(root, "maas.cli.core", "import maas.serving.core\nimport maas.simlive.core\n")
    result = _lint(root)
    assert result.returncode == 0, result.stdout + result.stderr
    assert set(_verdicts(result.stdout).values()) == {"KEPT"}
    assert len(_verdicts(result.stdout)) == len(_contract_names()) >= 8


def test_a_missing_layer_fails_lint(tmp_path):
    """A package renamed or removed is reported, so no contract silently checks nothing."""
    root = _tree(tmp_path, tuple(p for p in PACKAGES if p != "placement"))
    result = _lint(root)
    assert result.returncode != 0
    assert "placement" in result.stdout + result.stderr


@pytest.mark.parametrize("importer, source, broken", [
    ("maas.tiers.core", "import maas.routing.core\n", "maas.tiers imports nothing above it"),
    ("maas.tiers.core", "from maas.store import core\n", "maas.tiers imports nothing above it"),
    ("maas.routing.core", "import maas.placement.core\n", "maas.routing imports only maas.tiers"),
    ("maas.placement.core", "import maas.sim.core\n", "maas.placement imports nothing of api"),
    ("maas.api.core", "from maas.routing import core\n", "maas.api goes through maas.placement"),
    ("maas.api.core", "import maas.tiers\n", "maas.api goes through maas.placement"),
    ("maas.api.core", "import maas.loadtest.core\n", "maas.api imports nothing of sim"),
    ("maas.sim.core", "import maas.api.core\n", "maas.sim imports nothing of api"),
    ("maas.loadtest.core", "import maas.tiers.core\n", "maas.loadtest imports nothing of the server side"),
    ("maas.simlive.core", "import maas.serving.core\n", "maas.simlive (sim-to-real) imports sim and loadtest"),
])
def test_a_forbidden_arrow_fails_lint(tmp_path, importer, source, broken):
    root = _tree(tmp_path)
    _write(root, importer, source)
    result = _lint(root)
    assert result.returncode != 0
    verdicts = _verdicts(result.stdout)
    assert [n for n, v in verdicts.items() if v == "BROKEN"] == [n for n in verdicts if n.startswith(broken)]
    assert importer in result.stdout  # the report names the offending module


def test_a_forbidden_arrow_through_a_shared_module_fails_lint(tmp_path):
    """tiers -> maas.clock -> maas.sim: indirect, still an arrow from tiers to a layer above it."""
    root = _tree(tmp_path)
    _write(root, "maas.tiers.core", "import maas.clock\n")
    _write(root, "maas.clock", "import maas.sim.core\n")
    result = _lint(root)
    assert result.returncode != 0
    assert _verdicts(result.stdout)["maas.tiers imports nothing above it"] == "BROKEN"


def test_the_real_tree_keeps_every_contract():
    result = _lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert set(_verdicts(result.stdout).values()) == {"KEPT"}
