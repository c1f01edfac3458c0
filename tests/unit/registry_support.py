"""Helpers of the registry tests: a small sklearn model converted here (none of the reference models), a
registry on a given database, and a snapshot of everything the registry holds (artifact files and table rows)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
from sqlalchemy import Engine, select

from maas.clock import ManualClock
from maas.registry import Registry
from maas.registry.tables import ModelVariant, ModelVersion, RegisteredModel
from maas.store import make_engine, migrate, session_scope

FEATURES = np.random.default_rng(7).standard_normal((120, 4)).astype(np.float32)


def sklearn_onnx(path: Path, kind: str = "logistic") -> Path:
    """StandardScaler + LogisticRegression (FP32 input) or a DecisionTree on INT64 input, as ONNX at ``path``."""
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import FloatTensorType, Int64TensorType
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.tree import DecisionTreeClassifier

    labels = (FEATURES[:, 0] + FEATURES[:, 1] > 0).astype(np.int64) + (FEATURES[:, 2] > 1)
    if kind == "logistic":
        model = make_pipeline(StandardScaler(), LogisticRegression()).fit(FEATURES, labels)
        initial = [("features", FloatTensorType([None, 4]))]
    else:
        model = DecisionTreeClassifier(max_depth=3, random_state=0).fit((FEATURES * 3).astype(np.int64), labels)
        initial = [("counts", Int64TensorType([None, 4]))]
    onx = to_onnx(
        model, initial_types=initial, options={id(model): {"zipmap": False}}, target_opset={"": 17, "ai.onnx.ml": 3}
    )
    path.write_bytes(onx.SerializeToString())
    return path


def open_test_registry(url: str, data_dir: Path, **kwargs) -> Registry:
    engine = make_engine(url, busy_timeout_ms=kwargs.pop("busy_timeout_ms", 5000))
    migrate(engine)
    return Registry(engine, data_dir, clock=ManualClock(1_800_000_000.0), profile_budget_s=0.005, **kwargs)


def snapshot(registry: Registry) -> tuple[dict[str, str], list]:
    """Artifact files (relative path -> sha256 of the bytes) and every registry row."""
    root = registry.artifacts.root
    files = (
        {
            str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*"))
            if p.is_file() and p.name != ".lock"
        }
        if root.is_dir()
        else {}
    )
    return files, rows(registry.engine)


def rows(engine: Engine) -> list:
    with session_scope(engine, write=False) as session:
        out = []
        for table in (RegisteredModel, ModelVersion, ModelVariant):
            for row in session.scalars(select(table).order_by(table.id)):
                out.append({c.name: getattr(row, c.key) for c in table.__table__.columns})
        return out
