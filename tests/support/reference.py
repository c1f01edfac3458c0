"""Independent reference: run a built ONNX file directly with onnxruntime (own tokenisation for text models)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
from sklearn.datasets import load_digits
from tokenizers import Tokenizer

SENTENCES = [
    "The pump on line three is vibrating more than usual.",
    "Satellites pass overhead every few minutes in low Earth orbit.",
    "Invoices are due at the end of the month.",
]


def digits_rows(n: int = 3) -> np.ndarray:
    return load_digits().data[-n:].astype(np.float32)


def maintenance_rows() -> np.ndarray:
    return np.array(
        [[0, 298.1, 308.6, 1551, 42.8, 0], [2, 302.5, 311.0, 1300, 65.0, 230], [1, 300.0, 310.0, 2800, 5.0, 100]],
        dtype=np.float32,
    )


def sample_inputs(model: str) -> dict[str, np.ndarray]:
    if model == "digits-mlp":
        return {"pixels": digits_rows()}
    if model == "maintenance-clf":
        return {"features": maintenance_rows()}
    if model == "minilm-embed":
        return {"text": np.array([s.encode() for s in SENTENCES], dtype=object)}
    raise KeyError(model)


def v2_inputs(model: str) -> list[dict]:
    out = []
    for name, arr in sample_inputs(model).items():
        if arr.dtype == object:
            out.append({"name": name, "datatype": "BYTES", "shape": list(arr.shape), "data": [b.decode() for b in arr]})
        else:
            out.append({"name": name, "datatype": "FP32", "shape": list(arr.shape), "data": arr.reshape(-1).tolist()})
    return out


def run_onnx_directly(manifest, models_dir: Path, variant: str, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    session = ort.InferenceSession(str(manifest.variant_path(models_dir, variant)), providers=["CPUExecutionProvider"])
    if manifest.preprocessing == "tokenize":
        tok = Tokenizer.from_file(str(Path(models_dir) / manifest.name / manifest.tokenizer.file))
        tok.enable_truncation(manifest.tokenizer.max_length)
        tok.enable_padding()
        texts = [b.decode() for b in next(iter(inputs.values())).reshape(-1)]
        enc = tok.encode_batch(texts)
        columns = {
            "input_ids": np.array([e.ids for e in enc], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in enc], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in enc], dtype=np.int64),
        }
        feeds = {i.name: columns[i.name] for i in session.get_inputs()}
    else:
        feeds = inputs
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(None, feeds), strict=True))
