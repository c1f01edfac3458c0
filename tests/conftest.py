"""Shared fixtures: the built reference models and the default topology (``make test`` builds models first)."""

from __future__ import annotations

from pathlib import Path

import pytest

from maas.models import load_catalog
from maas.settings import load_settings
from models.build import build_models


@pytest.fixture(scope="session")
def models_dir() -> Path:
    """models/build (or MAAS_MODELS_DIR), built by the same cached build as `make models` (a no-op when built)."""
    path = load_settings(None).models_dir
    build_models(path)
    return path


@pytest.fixture(scope="session")
def catalog(models_dir):
    return load_catalog(models_dir)
