"""Shared fixtures: the built reference models and the default topology (``make test`` builds models first)."""

from __future__ import annotations

from pathlib import Path

import pytest

from maas.models import load_catalog
from maas.settings import load_settings


@pytest.fixture(scope="session")
def models_dir() -> Path:
    path = load_settings(None).models_dir  # models/build, or MAAS_MODELS_DIR
    if not (path / "digits-mlp" / "manifest.json").is_file():
        pytest.fail(f"reference models are not built in {path}: run `make models` (make test does it first)")
    return path


@pytest.fixture(scope="session")
def catalog(models_dir):
    return load_catalog(models_dir)
