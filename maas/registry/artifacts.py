"""Content-addressed artifacts: ``<root>/<sha[:2]>/<sha><suffix>``, written atomically, verified on every load.

A write goes to a temporary file in the target directory, is fsynced, renamed over the final name and the
directory is fsynced: a reader sees the whole file or nothing. Files that no registry row references (left by a
push killed between writing its artifacts and committing its rows) are invisible and removed by ``sweep``, which
runs under the same lock as a push.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from maas.errors import InvalidInput, MaasError

__all__ = ["ArtifactStore", "ArtifactCorrupt", "sha256_bytes"]

_SHA = re.compile(r"^[0-9a-f]{64}$")
_TMP_PREFIX = ".tmp-"


class ArtifactCorrupt(MaasError):
    """An artifact is missing or its bytes no longer match its sha256 (disk corruption or tampering)."""

    status = 500


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class ArtifactStore:
    """Files named by the sha256 of their bytes under ``root``; same bytes are stored once."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path(self, sha256: str, suffix: str = ".onnx") -> Path:
        """Where the artifact with this sha256 lives (whether or not it exists)."""
        if not _SHA.match(sha256):
            raise InvalidInput(f"sha256: {sha256!r} is not a hex sha256")
        return self.root / sha256[:2] / f"{sha256}{suffix}"

    def relative(self, sha256: str, suffix: str = ".onnx") -> str:
        """The artifact's path relative to ``root`` (what a stored manifest records)."""
        return str(self.path(sha256, suffix).relative_to(self.root))

    def exists(self, sha256: str, suffix: str = ".onnx") -> bool:
        return self.path(sha256, suffix).is_file()

    def put(self, data: bytes, suffix: str = ".onnx") -> tuple[str, bool]:
        """Store ``data`` atomically; returns ``(sha256, written)``: False when the same bytes were there."""
        sha256 = sha256_bytes(data)
        target = self.path(sha256, suffix)
        if target.is_file() and self._digest(target) == sha256:
            return sha256, False
        target.parent.mkdir(parents=True, exist_ok=True)
        _fsync_dir(self.root)
        tmp = target.parent / f"{_TMP_PREFIX}{sha256}-{os.getpid()}"
        try:
            with open(tmp, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        _fsync_dir(target.parent)
        return sha256, True

    def read(self, sha256: str, suffix: str = ".onnx") -> bytes:
        """The artifact's bytes, checked against its sha256; ArtifactCorrupt if missing or changed."""
        path = self.path(sha256, suffix)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise ArtifactCorrupt(f"{path}: artifact is missing from the registry's store") from None
        actual = sha256_bytes(data)
        if actual != sha256:
            raise ArtifactCorrupt(f"{path}: sha256 is {actual}, expected {sha256}; the artifact is corrupt")
        return data

    def verify(self, sha256: str, suffix: str = ".onnx") -> Path:
        """The artifact's path after checking its bytes (streamed) against its sha256."""
        path = self.path(sha256, suffix)
        if not path.is_file():
            raise ArtifactCorrupt(f"{path}: artifact is missing from the registry's store")
        actual = self._digest(path)
        if actual != sha256:
            raise ArtifactCorrupt(f"{path}: sha256 is {actual}, expected {sha256}; the artifact is corrupt")
        return path

    def discard(self, paths: Iterable[Path]) -> None:
        """Remove files this process wrote (a push that failed before its rows were committed)."""
        for path in paths:
            path.unlink(missing_ok=True)
            _fsync_dir(path.parent)

    def files(self) -> Iterator[Path]:
        """Every stored artifact file (temporary files excluded)."""
        if not self.root.is_dir():
            return
        for path in sorted(self.root.glob("??/*")):
            if path.is_file() and not path.name.startswith(_TMP_PREFIX):
                yield path

    def sweep(self, referenced: set[str]) -> list[Path]:
        """Remove temporary files and artifacts whose sha256 is not in ``referenced``; returns what was removed.

        Call only under ``lock()``, with ``referenced`` read from the database inside that lock.
        """
        removed = []
        if not self.root.is_dir():
            return removed
        for path in sorted(self.root.glob("??/*")):
            sha = path.name.split(".", 1)[0]
            if path.name.startswith(_TMP_PREFIX) or sha not in referenced:
                path.unlink(missing_ok=True)
                removed.append(path)
        for directory in {path.parent for path in removed}:
            _fsync_dir(directory)
        return removed

    @contextmanager
    def lock(self) -> Iterator[None]:
        """Exclusive lock over writes and sweeps of this store (processes sharing the directory)."""
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    @staticmethod
    def _digest(path: Path) -> str:
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
        return digest.hexdigest()


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
