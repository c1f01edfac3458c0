"""Model catalog: manifests of the built reference models, and a runner that serves one variant on the host.

    catalog = load_catalog(Path("models/build"))
    manifest = catalog.get("digits-mlp")
    runner = ModelRunner(manifest, catalog.models_dir, variant="int8")
    runner.infer({"pixels": np.zeros((1, 64), np.float32)})  # {"probabilities": ..., "label": ...}

The models themselves are built by ``python -m models.build`` (see models/README.md).
"""

from maas.models.catalog import MANIFEST_FILE, Catalog, load_catalog, read_manifest
from maas.models.manifest import (
    V2_DATATYPES,
    ModelManifest,
    TensorSpec,
    TokenizerSpec,
    Variant,
    numpy_dtype,
    sha256_file,
)
from maas.models.runner import ModelRunner, TextEncoder

__all__ = [
    "MANIFEST_FILE",
    "V2_DATATYPES",
    "Catalog",
    "ModelManifest",
    "ModelRunner",
    "TensorSpec",
    "TextEncoder",
    "TokenizerSpec",
    "Variant",
    "load_catalog",
    "numpy_dtype",
    "read_manifest",
    "sha256_file",
]
