"""Build the reference models: ``python -m models.build --out models/build [--force] [--only NAME]``.

For each model: run its recipe (``models/<name>.py``) in a temporary directory, check the ONNX signature against
the manifest, measure the host latency profile, then move the directory into ``<out>/<name>`` in one rename.
An interrupted build leaves only a ``.tmp-*`` directory, which the next build removes.

Cached: a model is skipped when its manifest is valid, was built by the same recipe (``recipe_sha256``: the
recipe's source files, its seed and version, the versions of the libraries and of Python that shape the bytes, and
the machine type) and every artifact matches its sha256.
Concurrent builds into the same directory (``make test`` and ``make run``) are serialised by a lock file.
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import json
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from types import ModuleType

from maas.errors import ConfigError
from maas.models import MANIFEST_FILE, ModelManifest, read_manifest
from models import digits_mlp, maintenance_clf, minilm_embed
from models.common import check_signature, measure_profile

__all__ = [
    "RECIPES",
    "DEFAULT_OUT",
    "BuildResult",
    "build_models",
    "build_model",
    "is_fresh",
    "recipe_files",
    "recipe_sha256",
    "main",
]

#: Model name -> recipe module, in build order (small first).
RECIPES: dict[str, ModuleType] = {
    digits_mlp.NAME: digits_mlp,
    maintenance_clf.NAME: maintenance_clf,
    minilm_embed.NAME: minilm_embed,
}
#: Extra source files (besides the recipe module and common.py) whose content shapes a recipe's artifacts.
_RECIPE_FILES: dict[str, tuple[str, ...]] = {
    maintenance_clf.NAME: ("ai4i.py",),
    minilm_embed.NAME: ("bert_onnx.py",),
}
#: Libraries whose behaviour shapes an artifact or a manifest figure: training (numpy and its bundled BLAS,
#: scipy, scikit-learn, threadpoolctl pinning one BLAS thread), conversion and serialisation (skl2onnx, onnx,
#: protobuf), quantisation and agreement figures (onnxruntime), MiniLM's weights, tokenizer and reference check.
_LIBRARIES = (
    "numpy",
    "scipy",
    "scikit-learn",
    "threadpoolctl",
    "skl2onnx",
    "onnx",
    "protobuf",
    "onnxruntime",
    "safetensors",
    "tokenizers",
    "torch",
    "transformers",
    "sentence-transformers",
    minilm_embed.PACKAGE,
)
DEFAULT_OUT = Path(__file__).resolve().parent / "build"
_HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class BuildResult:
    """What happened to one model: ``built`` False means the cached build was kept."""

    name: str
    built: bool
    seconds: float
    manifest: ModelManifest


def library_versions() -> dict[str, str]:
    """Installed versions of the libraries whose behaviour shapes the artifacts' bytes ("absent" if not installed)."""
    versions = {}
    for name in _LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "absent"
    return versions


def recipe_files(name: str) -> list[Path]:
    """The source files whose content shapes ``name``'s artifacts: the recipe, ``common.py`` and its helpers."""
    module_file = Path(RECIPES[name].__file__ or "")
    return [module_file, _HERE / "common.py", *(_HERE / extra for extra in _RECIPE_FILES.get(name, ()))]


def recipe_sha256(name: str) -> str:
    """The cache key of a build: sha256 over everything that changes its bytes.

    The recipe's source files (with ``common.py``, which canonicalises and writes every artifact), its ``SEED``
    and ``VERSION``, the library versions, the Python version and the machine type (BLAS kernels differ per
    architecture, so trained weights can differ in the last bits).
    """
    recipe = RECIPES[name]
    digest = hashlib.sha256()
    for path in recipe_files(name):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    environment = {
        "libraries": library_versions(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "machine": platform.machine(),
        "seed": getattr(recipe, "SEED", None),
        "version": getattr(recipe, "VERSION", None),
    }
    digest.update(json.dumps(environment, sort_keys=True).encode())
    return digest.hexdigest()


def is_fresh(out: Path, name: str) -> ModelManifest | None:
    """The manifest of a valid cached build of ``name`` under ``out``, or None if it must be (re)built."""
    path = Path(out) / name / MANIFEST_FILE
    if not path.is_file():
        return None
    try:
        manifest = read_manifest(path)
        manifest.verify(Path(out))
    except ConfigError:
        return None
    if manifest.name != name or manifest.build.get("recipe_sha256") != recipe_sha256(name):
        return None
    return manifest


@contextmanager
def _locked(out: Path) -> Iterator[None]:
    out.mkdir(parents=True, exist_ok=True)
    with open(out / ".build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _remove_leftovers(out: Path) -> None:
    for leftover in [*out.glob(".tmp-*"), *out.glob(".old-*")]:
        shutil.rmtree(leftover, ignore_errors=True)


def _write_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def build_model(out: Path, name: str, force: bool = False, profile: bool = True) -> BuildResult:
    """Build one model into ``out/<name>`` unless a fresh cached build is there. Caller holds the lock."""
    start_s = time.perf_counter()
    cached = None if force else is_fresh(out, name)
    if cached is not None:
        return BuildResult(name, False, time.perf_counter() - start_s, cached)
    recipe = RECIPES[name]
    staging = Path(tempfile.mkdtemp(prefix=f".tmp-{name}-", dir=out))
    try:
        work_dir = staging / name
        work_dir.mkdir()
        raw = recipe.build(work_dir)
        raw["build"] = {**raw.get("build", {}), "recipe_sha256": recipe_sha256(name), "libraries": library_versions()}
        manifest = ModelManifest.model_validate(raw)
        for variant in manifest.variants:
            check_signature(manifest, manifest.variant_path(staging, variant))
        if profile:
            measured = measure_profile(manifest, staging, recipe.profile_batch, recipe.PROFILE_RUNS)
            manifest = manifest.model_copy(update={"profile": measured})
        _write_json(work_dir / MANIFEST_FILE, manifest.model_dump(mode="json"))
        target = out / name
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=f".old-{name}-", dir=out))
            target.rename(old / name)
        work_dir.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        for old_dir in out.glob(f".old-{name}-*"):
            shutil.rmtree(old_dir, ignore_errors=True)
    return BuildResult(name, True, time.perf_counter() - start_s, manifest)


def build_models(
    out: Path = DEFAULT_OUT, names: list[str] | None = None, force: bool = False, profile: bool = True
) -> list[BuildResult]:
    """Build (or keep cached) every model in ``names`` (default: all) under ``out``; holds the build lock."""
    out = Path(out)
    selected = list(RECIPES) if not names else names
    unknown = [name for name in selected if name not in RECIPES]
    if unknown:
        raise ConfigError("models.build", "--only", f"unknown model(s) {', '.join(unknown)}", ", ".join(RECIPES))
    with _locked(out):
        _remove_leftovers(out)
        return [build_model(out, name, force=force, profile=profile) for name in selected]


def _size(size_bytes: int | None) -> str:
    if size_bytes is None:
        return "?"
    return f"{size_bytes / 1e6:.1f}MB" if size_bytes >= 1e6 else f"{size_bytes / 1e3:.1f}kB"


def _summary(result: BuildResult) -> str:
    manifest = result.manifest
    quality = ", ".join(f"{key}={value:.4g}" for key, value in list(manifest.quality.items())[:3])
    sizes = " ".join(f"{key}={_size(spec.size_bytes)}" for key, spec in manifest.variants.items())
    status = "built " if result.built else "cached"
    return f"{manifest.name:<16} {status} {result.seconds:6.1f} s  {sizes}  {quality}"


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; exit 2 on bad arguments, 1 on a failed build."""
    parser = argparse.ArgumentParser(prog="python -m models.build", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output directory (default models/build)")
    parser.add_argument("--force", action="store_true", help="rebuild even when the cached build is fresh")
    parser.add_argument("--only", action="append", choices=list(RECIPES), help="build only this model (repeat)")
    parser.add_argument("--no-profile", action="store_true", help="skip the host latency measurement")
    args = parser.parse_args(argv)
    start_s = time.perf_counter()
    try:
        results = build_models(args.out, args.only, force=args.force, profile=not args.no_profile)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for result in results:
        print(_summary(result))
    print(f"models in {args.out} ({time.perf_counter() - start_s:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
