"""Every refused push is a clear error with an HTTP status, and the registry is exactly as it was afterwards."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from maas.errors import InvalidInput, PayloadTooLarge, StoreUnavailable, Unsupported
from tests.unit.registry_support import open_test_registry, sklearn_onnx, snapshot


def _graph(path: Path, nodes, inputs, outputs, opsets=()) -> Path:
    graph = helper.make_graph(nodes, "g", inputs, outputs)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), *opsets], ir_version=9)
    path.write_bytes(model.SerializeToString())
    return path


def _tensor(name, elem=TensorProto.FLOAT, shape=("N", 3)):
    return helper.make_tensor_value_info(name, elem, list(shape))


def _bad_files(tmp: Path) -> dict:
    good = sklearn_onnx(tmp / "good.onnx").read_bytes()
    (tmp / "text.onnx").write_text("this is not an onnx model\n")
    (tmp / "truncated.onnx").write_bytes(good[: len(good) // 2])
    corrupt = bytearray(good)
    corrupt[10:40] = b"\xff" * 30
    (tmp / "corrupt.onnx").write_bytes(bytes(corrupt))
    x, y = _tensor("x"), _tensor("y")
    return {
        "not onnx": (tmp / "text.onnx", InvalidInput, "not an ONNX model"),
        "truncated": (tmp / "truncated.onnx", InvalidInput, "truncated"),
        "corrupt": (tmp / "corrupt.onnx", InvalidInput, "truncated/corrupt"),
        "custom op": (
            _graph(
                tmp / "custom.onnx",
                [helper.make_node("Frobnicate", ["x"], ["y"], domain="acme")],
                [x],
                [y],
                [helper.make_opsetid("acme", 1)],
            ),
            Unsupported,
            "op Frobnicate of domain 'acme' is not an onnxruntime CPU op",
        ),
        "no cpu kernel": (
            _graph(
                tmp / "acosh.onnx",
                [helper.make_node("Acosh", ["x"], ["y"])],
                [_tensor("x", TensorProto.DOUBLE)],
                [_tensor("y", TensorProto.DOUBLE)],
            ),
            Unsupported,
            "no kernel for op Acosh",
        ),
        "nameless input": (
            _graph(tmp / "noname.onnx", [helper.make_node("Relu", [""], ["y"])], [_tensor("")], [y]),
            InvalidInput,
            "'name'",
        ),
        "unsupported datatype": (
            _graph(
                tmp / "bf16.onnx",
                [helper.make_node("Cast", ["x"], ["y"], to=TensorProto.FLOAT)],
                [_tensor("x", TensorProto.BFLOAT16)],
                [y],
            ),
            InvalidInput,
            "tensor(bfloat16), not a V2 tensor datatype",
        ),
        "fixed batch": (
            _graph(
                tmp / "fixed.onnx",
                [helper.make_node("Relu", ["x"], ["y"])],
                [_tensor("x", shape=(1, 3))],
                [_tensor("y", shape=(1, 3))],
            ),
            InvalidInput,
            "first dimension, so it must be dynamic",
        ),
        "too large": (tmp / "good.onnx", PayloadTooLarge, "larger than max_model_bytes"),
    }


CASES = [
    "not onnx",
    "truncated",
    "corrupt",
    "custom op",
    "no cpu kernel",
    "nameless input",
    "unsupported datatype",
    "fixed batch",
    "too large",
]


@pytest.mark.parametrize("case", CASES)
def test_refused_push_names_the_problem_and_leaves_the_registry_as_it_was(case: str, tmp_path: Path) -> None:
    registry = open_test_registry(f"sqlite:///{tmp_path}/data/maas.db", tmp_path / "data")
    registry.push(sklearn_onnx(tmp_path / "seed.onnx", "tree"), "seed")
    if case == "too large":
        registry.max_model_bytes = 256
    before = snapshot(registry)
    path, error, text = _bad_files(tmp_path)[case]
    with pytest.raises(error) as caught:
        registry.push(path, "candidate")
    assert text in caught.value.message and caught.value.status in (400, 413, 501)
    assert snapshot(registry) == before


@pytest.mark.parametrize(
    ("kwargs", "text"),
    [
        ({"name": "Bad Name"}, "name: 'Bad Name' is not a valid model name (allowed: lowercase"),
        ({"name": "x" * 65}, "at most 64 characters"),
        ({"name": "ok", "version": 0}, "version: 0 is not a version (allowed: an integer >= 1)"),
        ({"name": "ok", "calibration": "calib.npz"}, "missing array(s) features (file has: wrong"),
    ],
)
def test_bad_arguments_are_400_and_change_nothing(kwargs: dict, text: str, tmp_path: Path) -> None:
    registry = open_test_registry(f"sqlite:///{tmp_path}/data/maas.db", tmp_path / "data")
    np.savez(tmp_path / "calib.npz", wrong=np.zeros((4, 4), np.float32))
    if "calibration" in kwargs:
        kwargs["calibration"] = tmp_path / kwargs["calibration"]
    before = snapshot(registry)
    with pytest.raises(InvalidInput) as caught:
        registry.push(sklearn_onnx(tmp_path / "a.onnx"), **kwargs)
    assert text in caught.value.message and caught.value.status == 400
    assert snapshot(registry) == before


def test_failure_between_artifacts_and_rows_leaves_nothing_behind(tmp_path: Path) -> None:
    registry = open_test_registry(f"sqlite:///{tmp_path}/data/maas.db", tmp_path / "data")
    registry.push(sklearn_onnx(tmp_path / "seed.onnx", "tree"), "seed")
    before = snapshot(registry)

    def fail() -> None:
        assert len(snapshot(registry)[0]) == len(before[0]) + 2  # both new artifacts are on disk now
        raise OSError("injected failure")

    registry.after_artifacts_written = fail
    with pytest.raises(OSError, match="injected"):
        registry.push(sklearn_onnx(tmp_path / "a.onnx"), "churn-clf")
    assert snapshot(registry) == before


def test_push_while_the_database_is_locked_is_503_and_changes_nothing(tmp_path: Path) -> None:
    db = tmp_path / "data" / "maas.db"
    registry = open_test_registry(f"sqlite:///{db}", tmp_path / "data", busy_timeout_ms=50)
    registry.push(sklearn_onnx(tmp_path / "seed.onnx", "tree"), "seed")
    before = snapshot(registry)
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another writer holds the write lock
    try:
        with pytest.raises(StoreUnavailable) as caught:
            registry.push(sklearn_onnx(tmp_path / "a.onnx"), "churn-clf")
        assert caught.value.status == 503 and "locked" in caught.value.message
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert snapshot(registry) == before


def test_sklearn_zipmap_output_is_refused_with_the_fix(tmp_path: Path) -> None:
    from skl2onnx import to_onnx
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression().fit(np.eye(4, dtype=np.float32), [0, 1, 0, 1])
    (tmp_path / "zip.onnx").write_bytes(
        to_onnx(model, np.eye(4, dtype=np.float32)[:1], target_opset={"": 17, "ai.onnx.ml": 3}).SerializeToString()
    )
    registry = open_test_registry(f"sqlite:///{tmp_path}/data/maas.db", tmp_path / "data")
    with pytest.raises(InvalidInput, match="zipmap=False"):
        registry.push(tmp_path / "zip.onnx", "zip")
    assert snapshot(registry) == ({}, [])
    assert onnx.load(tmp_path / "zip.onnx").graph.output  # the file itself is a valid model
