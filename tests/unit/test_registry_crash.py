"""A push killed (SIGKILL) between writing its artifacts and committing its rows leaves no visible model;
the next registry operation sweeps the orphaned files, and the registry is exactly as before."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from tests.unit.registry_support import open_test_registry, sklearn_onnx, snapshot

ROOT = Path(__file__).resolve().parents[2]


def test_killed_push_leaves_the_registry_as_it_was(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/data/maas.db"
    registry = open_test_registry(url, tmp_path / "data")
    registry.push(sklearn_onnx(tmp_path / "seed.onnx", "tree"), "seed")
    before = snapshot(registry)
    model = sklearn_onnx(tmp_path / "a.onnx")
    script = textwrap.dedent(f"""
        import os, signal
        from pathlib import Path
        from tests.unit.registry_support import open_test_registry
        registry = open_test_registry({url!r}, Path({str(tmp_path / "data")!r}))
        registry.after_artifacts_written = lambda: os.kill(os.getpid(), signal.SIGKILL)
        registry.push(Path({str(model)!r}), "churn-clf")
    """)
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, timeout=120)
    assert done.returncode == -9, done.stderr.decode()
    files, rows = snapshot(registry)
    assert rows == before[1] and [(i.name, i.version) for i in registry.list()] == [("seed", 1)]
    assert len(files) == len(before[0]) + 2  # the killed push's two artifacts: on disk, referenced by nothing
    assert len(registry.sweep()) == 2
    assert snapshot(registry) == before
    assert registry.push(model, "churn-clf").version == 1  # and the same push now succeeds
