"""The model catalog: every manifest found under a models directory, looked up by name and version."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import ValidationError

from maas.errors import ConfigError, ModelNotFound
from maas.models.manifest import ModelManifest

__all__ = ["Catalog", "load_catalog", "read_manifest", "MANIFEST_FILE"]

#: The file name of a model's manifest inside ``<models_dir>/<name>/``.
MANIFEST_FILE = "manifest.json"


def read_manifest(path: Path) -> ModelManifest:
    """Parse and validate one manifest file; ConfigError naming the file and the first bad field."""
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(str(path), "file", f"cannot be read: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(str(path), f"line {exc.lineno}", f"is not valid JSON: {exc.msg}") from None
    try:
        return ModelManifest.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "(root)"
        raise ConfigError(str(path), field, first["msg"]) from None


class Catalog:
    """The models a directory holds, keyed by (name, version). Immutable once loaded."""

    def __init__(self, models_dir: Path, manifests: list[ModelManifest]) -> None:
        self.models_dir = Path(models_dir)
        self._by_name: dict[str, dict[str, ModelManifest]] = {}
        for manifest in manifests:
            versions = self._by_name.setdefault(manifest.name, {})
            if manifest.version in versions:
                raise ConfigError(str(self.models_dir), manifest.name, f"version {manifest.version!r} appears twice")
            versions[manifest.version] = manifest

    def names(self) -> list[str]:
        """Model names, sorted."""
        return sorted(self._by_name)

    def manifests(self) -> list[ModelManifest]:
        """Every manifest, sorted by name then version."""
        return [self._by_name[name][version] for name in self.names() for version in sorted(self._by_name[name])]

    def get(self, name: str, version: str | None = None) -> ModelManifest:
        """The manifest of ``name`` (at ``version``, or its highest version); ModelNotFound otherwise."""
        versions = self._by_name.get(name)
        if not versions:
            known = ", ".join(self.names()) or "none; run `make models`"
            raise ModelNotFound(f"unknown model {name!r} (known: {known})")
        if version is None:
            return versions[max(versions, key=_version_key)]
        try:
            return versions[version]
        except KeyError:
            raise ModelNotFound(
                f"model {name!r} has no version {version!r} (known: {', '.join(sorted(versions))})"
            ) from None

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def __len__(self) -> int:
        return sum(len(versions) for versions in self._by_name.values())


def _version_key(version: str) -> tuple[tuple[int, int | str], ...]:
    """Order versions numerically where they are numbers ("2" < "10"), lexically otherwise."""
    parts = version.replace("-", ".").split(".")
    return tuple((0, int(part)) if part.isdigit() else (1, part) for part in parts)


def load_catalog(models_dir: Path) -> Catalog:
    """Read ``<models_dir>/<name>/manifest.json`` for every model dir; ConfigError if one is broken.

    Directories whose names start with ``.`` (a build in progress) are skipped, as are directories without a
    manifest. A manifest whose ``name`` differs from its directory is an error.
    """
    root = Path(models_dir)
    if not root.is_dir():
        raise ConfigError(str(root), "models_dir", "is not a directory; run `make models` to build the models")
    manifests = []
    for model_dir in sorted(root.iterdir()):
        path = model_dir / MANIFEST_FILE
        if model_dir.name.startswith(".") or not path.is_file():
            continue
        manifest = read_manifest(path)
        if manifest.name != model_dir.name:
            raise ConfigError(str(path), "name", f"is {manifest.name!r} but the directory is {model_dir.name!r}")
        manifests.append(manifest)
    return Catalog(root, manifests)
