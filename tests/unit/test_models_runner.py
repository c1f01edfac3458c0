"""ModelRunner: the same numbers as a raw onnxruntime session on the file, the manifest's names and dtypes."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from tokenizers import Tokenizer

from maas.errors import ConfigError, InvalidInput
from maas.models import ModelRunner, load_catalog, numpy_dtype

VARIANTS = ["fp32", "int8"]
RNG = np.random.default_rng(7)
SENTENCES = ["A short one.", "Machines fail when the tool wears out after two hundred minutes of cutting.", "ok"]




def _raw_session(path: Path) -> ort.InferenceSession:
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def _sample_inputs(name: str) -> dict[str, np.ndarray]:
    if name == "digits-mlp":
        return {"pixels": RNG.integers(0, 17, size=(5, 64)).astype(np.float32)}
    if name == "maintenance-clf":
        columns = [
            RNG.integers(0, 3, 5),
            RNG.normal(300, 2, 5),
            RNG.normal(310, 1.5, 5),
            RNG.normal(1540, 180, 5),
            RNG.normal(40, 10, 5),
            RNG.uniform(0, 250, 5),
        ]
        return {"features": np.column_stack(columns).astype(np.float32)}
    return {"text": np.array([s.encode() for s in SENTENCES], dtype=object)}


def _raw_feeds(name: str, inputs: dict[str, np.ndarray], model_dir: Path) -> dict[str, np.ndarray]:
    if name != "minilm-embed":
        return inputs
    # Tokenise independently of the runner, straight from the packaged tokenizer.json.
    tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tokenizer.enable_truncation(max_length=256)
    tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
    encodings = tokenizer.encode_batch(SENTENCES)
    return {
        "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
        "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
        "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
    }


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("name", ["digits-mlp", "maintenance-clf", "minilm-embed"])
def test_runner_equals_raw_onnxruntime(catalog, models_dir: Path, name: str, variant: str) -> None:
    manifest = catalog.get(name)
    runner = ModelRunner(manifest, models_dir, variant=variant)
    inputs = _sample_inputs(name)
    got = runner.infer(inputs)

    path = manifest.variant_path(models_dir, variant)
    raw = _raw_session(path).run([spec.name for spec in manifest.outputs], _raw_feeds(name, inputs, models_dir / name))
    assert list(got) == [spec.name for spec in manifest.outputs]
    batch = len(next(iter(inputs.values())))
    for spec, expected in zip(manifest.outputs, raw, strict=True):
        value = got[spec.name]
        assert value.dtype == numpy_dtype(spec.datatype), spec.name
        assert list(value.shape) == [batch if dim == -1 else dim for dim in spec.shape], spec.name
        np.testing.assert_array_equal(value, expected)


def test_classifier_outputs_are_consistent(catalog, models_dir: Path) -> None:
    digits = ModelRunner(catalog.get("digits-mlp"), models_dir).infer(_sample_inputs("digits-mlp"))
    np.testing.assert_allclose(digits["probabilities"].sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(digits["label"], digits["probabilities"].argmax(axis=1))
    maintenance = ModelRunner(catalog.get("maintenance-clf"), models_dir).infer(_sample_inputs("maintenance-clf"))
    assert np.all((maintenance["failure_probability"] >= 0) & (maintenance["failure_probability"] <= 1))
    np.testing.assert_array_equal(maintenance["label"], (maintenance["failure_probability"] >= 0.5).astype(np.int64))


def test_embeddings_are_unit_length_and_batch_independent(catalog, models_dir: Path) -> None:
    runner = ModelRunner(catalog.get("minilm-embed"), models_dir)
    texts = _sample_inputs("minilm-embed")["text"]
    batch = runner.infer({"text": texts})["embedding"]
    np.testing.assert_allclose(np.linalg.norm(batch, axis=1), 1.0, rtol=1e-5)
    for i in range(len(texts)):  # padding to the longest text in the batch must not change an embedding
        single = runner.infer({"text": texts[i : i + 1]})["embedding"][0]
        np.testing.assert_allclose(single, batch[i], atol=1e-5)


@pytest.mark.parametrize("name", ["digits-mlp", "maintenance-clf", "minilm-embed"])
def test_warmup_runs(catalog, models_dir: Path, name: str) -> None:
    ModelRunner(catalog.get(name), models_dir, variant="int8").warmup()


def test_missing_input_is_invalid_input(catalog, models_dir: Path) -> None:
    runner = ModelRunner(catalog.get("digits-mlp"), models_dir)
    with pytest.raises(InvalidInput, match="missing input.*pixels"):
        runner.infer({"image": np.zeros((1, 64), np.float32)})


@pytest.mark.parametrize("name", ["digits-mlp", "maintenance-clf", "minilm-embed"])
def test_empty_batch_gives_empty_outputs(catalog, models_dir: Path, name: str) -> None:
    manifest = catalog.get(name)
    empty = {k: v[:0] for k, v in _sample_inputs(name).items()}
    got = ModelRunner(manifest, models_dir).infer(empty)
    for spec in manifest.outputs:
        assert got[spec.name].shape == tuple(0 if dim == -1 else dim for dim in spec.shape)
        assert got[spec.name].dtype == numpy_dtype(spec.datatype)


def test_wrong_shape_is_invalid_input(catalog, models_dir: Path) -> None:
    runner = ModelRunner(catalog.get("digits-mlp"), models_dir)
    with pytest.raises(InvalidInput, match="digits-mlp.*pixels"):
        runner.infer({"pixels": np.zeros((2, 63), np.float32)})


def test_bad_utf8_is_invalid_input(catalog, models_dir: Path) -> None:
    runner = ModelRunner(catalog.get("minilm-embed"), models_dir, variant="int8")
    with pytest.raises(InvalidInput, match="UTF-8"):
        runner.infer({"text": np.array([b"\xff\xfe"], dtype=object)})


def test_tampered_artifact_is_refused(catalog, models_dir: Path, tmp_path: Path) -> None:
    shutil.copytree(models_dir / "digits-mlp", tmp_path / "digits-mlp")
    path = tmp_path / "digits-mlp" / "model.int8.onnx"
    path.write_bytes(path.read_bytes() + b"\0")
    manifest = load_catalog(tmp_path).get("digits-mlp")
    ModelRunner(manifest, tmp_path, variant="fp32")  # the untouched variant still loads
    with pytest.raises(ConfigError, match="sha256"):
        ModelRunner(manifest, tmp_path, variant="int8")
