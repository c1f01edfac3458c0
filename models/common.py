"""Helpers every model recipe uses: canonical ONNX saving, int8 quantisation, agreement and profiling.

A recipe module (``models/digits_mlp.py``, ...) defines ``NAME``, ``VERSION``, ``SEED`` and
``build(work_dir: Path) -> dict`` that writes its artifacts into ``work_dir`` and returns the manifest as a dict
without ``profile`` and ``build`` (``models.build`` adds those, validates it with ``maas.models.ModelManifest``
and moves the directory into place atomically).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

from maas.errors import ConfigError
from maas.models import ModelManifest, ModelRunner, numpy_dtype, sha256_file
from maas.models.runner import session_options

__all__ = [
    "OPSET",
    "ML_OPSET",
    "canonicalise",
    "save_onnx",
    "quantize_int8",
    "run_onnx",
    "variant_entry",
    "label_agreement",
    "measure_profile",
    "check_signature",
]

#: Default ONNX opset (ai.onnx) and ai.onnx.ml opset of every graph.
OPSET = 17
ML_OPSET = 3


def canonicalise(model: onnx.ModelProto) -> onnx.ModelProto:
    """Put the repeated fields whose order carries no meaning into one order (in place); return ``model``.

    skl2onnx 1.20 collects the (domain, version) pairs of its nodes in a Python ``set`` and writes ``opset_import``
    in that set's iteration order, which follows the string-hash seed (PYTHONHASHSEED, random per process): for
    the two scikit-learn recipes about one process in 15 writes ``ai.onnx.ml`` before the default domain, the
    same graph in other bytes. Sorted by domain here: ``opset_import`` (of the model and of its functions) and
    ``metadata_props`` (by key). Node and initializer names need nothing: the converters and the quantiser number
    them per model, whatever the process converted before (``tests/unit/test_models_build.py`` checks both).
    """
    for opsets in (model.opset_import, *(function.opset_import for function in model.functions)):
        opsets.sort(key=lambda opset: (opset.domain, opset.version))
    model.metadata_props.sort(key=lambda prop: prop.key)
    return model


def save_onnx(model: onnx.ModelProto, path: Path) -> None:
    """Canonicalise, check and write ``model``: the same graph gives the same bytes in any process.

    Every artifact of every recipe is written here (``quantize_int8`` rewrites its output through it too).
    """
    canonicalise(model)
    onnx.checker.check_model(model)
    path.write_bytes(model.SerializeToString(deterministic=True))


def quantize_int8(fp32_path: Path, int8_path: Path, per_channel: bool = True) -> None:
    """Dynamic int8 quantisation (weights int8, activations quantised at run time) with onnxruntime.

    Per-channel weight scales: for MiniLM they lift the cosine to fp32 from ~0.94 to ~0.99 for +0.4 % size.
    The quantiser's output is read back and written again by ``save_onnx`` (canonical order, checked).
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(fp32_path, int8_path, weight_type=QuantType.QInt8, per_channel=per_channel)
    save_onnx(onnx.load(str(int8_path)), int8_path)


def run_onnx(path: Path, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    """All outputs of ``path`` for ``feeds`` with a plain one-thread onnxruntime session."""
    session = ort.InferenceSession(str(path), sess_options=session_options(1), providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


def variant_entry(path: Path, agreement: dict[str, float] | None = None) -> dict:
    """The manifest entry of one artifact: file (relative), sha256, size and agreement with fp32."""
    return {
        "file": path.name,
        "sha256": sha256_file(path),
        "size_bytes": path.stat().st_size,
        "agreement": {key: round(float(value), 6) for key, value in (agreement or {}).items()},
    }


def label_agreement(probs_a: np.ndarray, probs_b: np.ndarray, labels_a: np.ndarray, labels_b: np.ndarray) -> dict:
    """How far two variants of a classifier agree: same label fraction and largest probability difference."""
    return {
        "label_agreement": float(np.mean(labels_a == labels_b)),
        "probability_max_abs_diff": float(np.max(np.abs(probs_a - probs_b))),
    }


def measure_profile(
    manifest: ModelManifest,
    models_dir: Path,
    make_batch: Callable[[], dict[str, np.ndarray]],
    runs: int,
) -> dict[str, dict[str, float]]:
    """Host latency of one batch-1 ``ModelRunner.infer`` (1 thread) per variant: p50 and p90 in ms.

    Measured at build time on whatever machine builds; the tier models scale it by each tier's speed.
    This is the one field of a manifest that differs between two builds.
    """
    profile = {}
    batch = make_batch()
    for variant in manifest.variants:
        runner = ModelRunner(manifest, models_dir, variant=variant, intra_op_threads=1, verify=False)
        for _ in range(min(10, runs)):
            runner.infer(batch)
        samples_ms = []
        for _ in range(runs):
            start_ns = time.perf_counter_ns()
            runner.infer(batch)
            samples_ms.append((time.perf_counter_ns() - start_ns) / 1e6)
        deciles = statistics.quantiles(samples_ms, n=10)
        profile[variant] = {
            "host_ms_p50": round(statistics.median(samples_ms), 4),
            "host_ms_p90": round(deciles[8], 4),
            "batch": 1.0,
            "threads": 1.0,
            "runs": float(runs),
        }
    return profile


def check_signature(manifest: ModelManifest, path: Path) -> None:
    """Check that the ONNX file's outputs (and inputs, unless the platform tokenises) match the manifest."""
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    graph_outputs = {node.name: node for node in session.get_outputs()}
    specs = list(manifest.outputs)
    if manifest.preprocessing is None:
        graph_inputs = {node.name: node for node in session.get_inputs()}
        if set(graph_inputs) != {spec.name for spec in manifest.inputs}:
            raise ConfigError(
                str(path),
                "inputs",
                f"graph has {sorted(graph_inputs)}, manifest {[spec.name for spec in manifest.inputs]}",
            )
        specs += manifest.inputs
        graph_outputs |= graph_inputs
    for spec in specs:
        node = graph_outputs.get(spec.name)
        if node is None:
            raise ConfigError(str(path), spec.name, f"not in the graph (graph has {sorted(graph_outputs)})")
        expected = _ORT_TYPES[numpy_dtype(spec.datatype)]
        if node.type != expected or len(node.shape) != len(spec.shape):
            raise ConfigError(
                str(path),
                spec.name,
                f"graph says {node.type} rank {len(node.shape)}, manifest {spec.datatype} {spec.shape}",
            )


_ORT_TYPES = {
    np.dtype(np.float32): "tensor(float)",
    np.dtype(np.int64): "tensor(int64)",
    np.dtype(np.float64): "tensor(double)",
    np.dtype(np.int32): "tensor(int32)",
    np.dtype(object): "tensor(string)",
}
