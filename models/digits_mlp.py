"""Recipe for ``digits-mlp``: an MLP classifier of 8x8 handwritten digits (scikit-learn's copy of UCI digits).

Data: ``sklearn.datasets.load_digits`` (1,797 images, shipped with scikit-learn, no download), split 75/25
stratified with ``SEED``. Model: StandardScaler + MLPClassifier(64 hidden, relu, adam), trained on one BLAS thread
so the weights are the same bits on every run, converted with skl2onnx (no ZipMap: ``probabilities`` is a plain
FP32 tensor, ``label`` INT64), then quantised to int8.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["NAME", "VERSION", "SEED", "TEST_SIZE", "build", "held_out_split", "profile_batch", "PROFILE_RUNS"]

NAME = "digits-mlp"
VERSION = "1"
SEED = 0
TEST_SIZE = 0.25
PROFILE_RUNS = 300


def held_out_split() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``x_train, x_test, y_train, y_test`` exactly as the build splits them (x float32, y int64)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    return train_test_split(
        x.astype(np.float32), y.astype(np.int64), test_size=TEST_SIZE, stratify=y, random_state=SEED
    )


def profile_batch() -> dict[str, np.ndarray]:
    """One batch-1 request for profiling: the first held-out image."""
    return {"pixels": held_out_split()[1][:1]}


def build(work_dir: Path) -> dict:
    """Train, convert, quantise; write model.onnx and model.int8.onnx into ``work_dir``; return the manifest."""
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler
    from threadpoolctl import threadpool_limits

    from models.common import ML_OPSET, OPSET, label_agreement, quantize_int8, run_onnx, save_onnx, variant_entry

    x_train, x_test, y_train, y_test = held_out_split()
    classifier = Pipeline(
        [
            ("scale", StandardScaler()),
            ("mlp", MLPClassifier(hidden_layer_sizes=(64,), alpha=1e-3, max_iter=500, random_state=SEED)),
        ]
    )
    with threadpool_limits(limits=1):
        classifier.fit(x_train, y_train)
        sklearn_accuracy = float(classifier.score(x_test, y_test))

    onx = convert_sklearn(
        classifier,
        name=NAME,
        initial_types=[("pixels", FloatTensorType([None, 64]))],
        final_types=None,
        options={MLPClassifier: {"zipmap": False}},
        target_opset={"": OPSET, "ai.onnx.ml": ML_OPSET},
    )
    fp32_path, int8_path = work_dir / "model.onnx", work_dir / "model.int8.onnx"
    save_onnx(onx, fp32_path)
    quantize_int8(fp32_path, int8_path)

    label_fp32, probs_fp32 = run_onnx(fp32_path, {"pixels": x_test})
    label_int8, probs_int8 = run_onnx(int8_path, {"pixels": x_test})
    sklearn_probs = classifier.predict_proba(x_test)
    return {
        "name": NAME,
        "version": VERSION,
        "task": "image-classification",
        "description": (
            "Handwritten digit classifier (0-9) for 8x8 greyscale images with pixel values 0..16, "
            "as in scikit-learn's digits dataset. MLP with one hidden layer of 64 units."
        ),
        "inputs": [
            {
                "name": "pixels",
                "datatype": "FP32",
                "shape": [-1, 64],
                "description": "8x8 image, row-major, values 0..16 (sklearn load_digits scale)",
            },
        ],
        "outputs": [
            {
                "name": "probabilities",
                "datatype": "FP32",
                "shape": [-1, 10],
                "description": "class probabilities for digits 0..9",
            },
            {"name": "label", "datatype": "INT64", "shape": [-1], "description": "most probable digit"},
        ],
        "preprocessing": None,
        "variants": {
            "fp32": variant_entry(fp32_path),
            "int8": variant_entry(int8_path, label_agreement(probs_fp32, probs_int8, label_fp32, label_int8)),
        },
        "quality": {
            "test_accuracy": float(np.mean(label_fp32 == y_test)),
            "test_accuracy_int8": float(np.mean(label_int8 == y_test)),
            "test_accuracy_sklearn": sklearn_accuracy,
            "onnx_vs_sklearn_probability_max_abs_diff": float(np.max(np.abs(probs_fp32 - sklearn_probs))),
            "test_samples": float(len(y_test)),
        },
        "source": (
            "Trained here on scikit-learn's digits dataset (UCI Optical Recognition of Handwritten Digits, "
            "Alpaydin & Kaynak 1998; 1,797 8x8 images shipped in scikit-learn)"
        ),
        "licence": "CC-BY-4.0 (UCI dataset); model weights produced by this build",
        "build": {
            "seed": SEED,
            "split": f"sklearn train_test_split(test_size={TEST_SIZE}, stratify=y, random_state={SEED})",
            "train_samples": len(y_train),
            "estimator": "StandardScaler + MLPClassifier(hidden_layer_sizes=(64,), alpha=1e-3, max_iter=500)",
        },
    }
