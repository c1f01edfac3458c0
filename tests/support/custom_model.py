"""A model that is none of the reference models: a DecisionTree on INT64 counts converted with skl2onnx, as an
operator would bring one (the rollout integration test and the operator's CLI e2e push it)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

ROWS = (np.random.default_rng(11).standard_normal((64, 4)) * 3).astype(np.int64)


def tree_onnx(path: Path, depth: int) -> Path:
    """A DecisionTree of ``depth`` on INT64 counts (input ``counts`` [N, 4]; outputs ``label``, ``probabilities``)."""
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import Int64TensorType
    from sklearn.tree import DecisionTreeClassifier

    rng = np.random.default_rng(depth)
    x = (rng.standard_normal((300, 4)) * 3).astype(np.int64)
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int64) + (x[:, 2] > 2)
    model = DecisionTreeClassifier(max_depth=depth, random_state=0).fit(x, y)
    onx = to_onnx(model, initial_types=[("counts", Int64TensorType([None, 4]))],
                  options={id(model): {"zipmap": False}}, target_opset={"": 17, "ai.onnx.ml": 3})
    path.write_bytes(onx.SerializeToString())
    return path


def onnxruntime_outputs(path: Path, rows: np.ndarray) -> dict[str, np.ndarray]:
    """What onnxruntime itself answers for ``rows`` on the file: the reference a served result must equal."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return dict(zip([o.name for o in session.get_outputs()], session.run(None, {"counts": rows}), strict=True))
