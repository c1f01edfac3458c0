"""Quality figures recomputed from the held-out data, int8 agreement, and the AI4I 2020 data generator."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.metrics import f1_score, roc_auc_score
from sklearn.model_selection import train_test_split

from maas.models import ModelRunner
from models.ai4i import FAILURE_MODES, FEATURES, generate_ai4i


def _digits_test_split(seed: int) -> tuple[np.ndarray, np.ndarray]:
    x, y = load_digits(return_X_y=True)
    _, x_test, _, y_test = train_test_split(x, y, test_size=0.25, stratify=y, random_state=seed)
    return x_test.astype(np.float32), y_test


def _maintenance_test_split(rows: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    data = generate_ai4i(n=rows, seed=seed)
    _, x_test, _, y_test = train_test_split(
        data.features, data.failure, test_size=0.2, stratify=data.failure, random_state=seed
    )
    return x_test, y_test


def test_digits_held_out_accuracy(catalog, models_dir: Path) -> None:
    manifest = catalog.get("digits-mlp")
    x_test, y_test = _digits_test_split(int(manifest.build["seed"]))
    assert len(y_test) == manifest.quality["test_samples"] == 450
    for variant, key in (("fp32", "test_accuracy"), ("int8", "test_accuracy_int8")):
        label = ModelRunner(manifest, models_dir, variant=variant).infer({"pixels": x_test})["label"]
        accuracy = float(np.mean(label == y_test))
        assert accuracy >= 0.95, variant
        assert accuracy == pytest.approx(manifest.quality[key], abs=1e-12), variant


def test_digits_int8_agreement(catalog, models_dir: Path) -> None:
    manifest = catalog.get("digits-mlp")
    x_test, _ = _digits_test_split(int(manifest.build["seed"]))
    fp32 = ModelRunner(manifest, models_dir, "fp32").infer({"pixels": x_test})
    int8 = ModelRunner(manifest, models_dir, "int8").infer({"pixels": x_test})
    agreement = float(np.mean(fp32["label"] == int8["label"]))
    assert agreement >= 0.98
    assert agreement == pytest.approx(manifest.variants["int8"].agreement["label_agreement"], abs=1e-6)
    max_diff = float(np.max(np.abs(fp32["probabilities"] - int8["probabilities"])))
    assert max_diff == pytest.approx(manifest.variants["int8"].agreement["probability_max_abs_diff"], abs=1e-5)


def test_maintenance_held_out_metrics(catalog, models_dir: Path) -> None:
    manifest = catalog.get("maintenance-clf")
    x_test, y_test = _maintenance_test_split(int(manifest.build["rows"]), int(manifest.build["seed"]))
    for variant, suffix in (("fp32", ""), ("int8", "_int8")):
        out = ModelRunner(manifest, models_dir, variant=variant).infer({"features": x_test})
        auc = roc_auc_score(y_test, out["failure_probability"])
        f1 = f1_score(y_test, out["label"])
        accuracy = float(np.mean(out["label"] == y_test))
        assert auc >= 0.95 and f1 >= 0.7, variant
        assert accuracy > 1 - y_test.mean(), "must beat always predicting 'no failure'"
        assert auc == pytest.approx(manifest.quality[f"test_roc_auc{suffix}"], abs=1e-9)
        assert f1 == pytest.approx(manifest.quality[f"test_f1{suffix}"], abs=1e-9)


def test_maintenance_int8_agreement(catalog, models_dir: Path) -> None:
    manifest = catalog.get("maintenance-clf")
    x_test, _ = _maintenance_test_split(int(manifest.build["rows"]), int(manifest.build["seed"]))
    fp32 = ModelRunner(manifest, models_dir, "fp32").infer({"features": x_test})
    int8 = ModelRunner(manifest, models_dir, "int8").infer({"features": x_test})
    agreement = float(np.mean(fp32["label"] == int8["label"]))
    assert agreement >= 0.99
    assert agreement == pytest.approx(manifest.variants["int8"].agreement["label_agreement"], abs=1e-6)


def test_maintenance_manifest_documents_feature_order(catalog) -> None:
    manifest = catalog.get("maintenance-clf")
    assert manifest.build["feature_order"] == list(FEATURES)
    text = manifest.inputs[0].description
    positions = [text.index(name) for name in FEATURES]
    assert positions == sorted(positions)
    assert "AI4I 2020" in manifest.source and "Matzka" in manifest.source


# --- the AI4I 2020 generator -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ai4i():
    return generate_ai4i(n=10_000, seed=3)


def test_generator_is_seeded(ai4i) -> None:
    again = generate_ai4i(n=10_000, seed=3)
    np.testing.assert_array_equal(ai4i.features, again.features)
    np.testing.assert_array_equal(ai4i.failure, again.failure)
    assert not np.array_equal(generate_ai4i(n=10_000, seed=4).features, ai4i.features)


def test_generator_marginals_follow_the_published_description(ai4i) -> None:
    product, air, process, speed, torque, wear = ai4i.features.T.astype(np.float64)
    shares = np.bincount(product.astype(int), minlength=3) / len(product)
    np.testing.assert_allclose(shares, [0.5, 0.3, 0.2], atol=0.02)
    assert air.mean() == pytest.approx(300.0, abs=0.05) and air.std() == pytest.approx(2.0, abs=0.05)
    assert (process - air - 10.0).std() == pytest.approx(1.0, abs=0.05)
    assert torque.min() >= 0 and torque.mean() == pytest.approx(40.0, abs=0.5)
    assert speed.mean() == pytest.approx(1538.8, abs=10) and np.corrcoef(speed, torque)[0, 1] < -0.8
    assert wear.min() >= 2 and wear.max() <= 245  # replaced between 200 and 240 min (+ one step of up to 5)


def test_generator_failure_rules(ai4i) -> None:
    product, air, process, speed, torque, wear = ai4i.features.T.astype(np.float64)
    modes = ai4i.modes
    power_w = torque * speed * 2 * np.pi / 60
    np.testing.assert_array_equal(modes["HDF"], ((process - air < 8.6) & (speed < 1380)).astype(int))
    np.testing.assert_array_equal(modes["PWF"], ((power_w < 3500) | (power_w > 9000)).astype(int))
    limit = np.array([11_000, 12_000, 13_000])[product.astype(int)]
    np.testing.assert_array_equal(modes["OSF"], (wear * torque > limit).astype(int))
    assert np.all(wear[modes["TWF"] == 1] >= 200)
    machine = np.zeros_like(ai4i.failure)
    for mode in FAILURE_MODES:
        machine |= modes[mode]
        assert modes[mode].sum() > 0, mode
    np.testing.assert_array_equal(ai4i.failure, machine)
    assert 0.02 <= ai4i.failure.mean() <= 0.06  # the published dataset: 3.39 %
