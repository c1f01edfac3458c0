"""The satellite side of an uplink, emulated on disk: ``<data_dir>/uplink/<tier>/<sha256>.part`` holds the bytes
that arrived so far (exactly as many as the plan says), ``<sha256>.onnx`` the verified arrival."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

__all__ = ["SatelliteStore", "sha256_file"]

_CHUNK_BYTES = 1 << 20


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK_BYTES), b""):
            h.update(chunk)
    return h.hexdigest()


class SatelliteStore:
    """Arrived bytes per satellite tier under ``root`` (``<data_dir>/uplink``)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def part_path(self, tier: str, sha256: str) -> Path:
        return self.root / tier / f"{sha256}.part"

    def arrived_path(self, tier: str, sha256: str) -> Path:
        return self.root / tier / f"{sha256}.onnx"

    def have(self, tier: str, sha256: str) -> int:
        part = self.part_path(tier, sha256)
        return part.stat().st_size if part.exists() else 0

    def fill(self, tier: str, sha256: str, source: Path, target: int) -> None:
        """Make the ``.part`` file hold the first ``target`` bytes of ``source`` (appending, or truncating)."""
        part = self.part_path(tier, sha256)
        part.parent.mkdir(parents=True, exist_ok=True)
        have = self.have(tier, sha256)
        if have > target:
            with open(part, "r+b") as fh:
                fh.truncate(target)
            return
        if not part.exists():
            part.write_bytes(b"")
        if have == target:
            return
        with open(source, "rb") as fin, open(part, "ab") as fout:
            fin.seek(have)
            left = target - have
            while left > 0:
                chunk = fin.read(min(_CHUNK_BYTES, left))
                if not chunk:
                    break
                fout.write(chunk)
                left -= len(chunk)
            fout.flush()
            os.fsync(fout.fileno())

    def arrive(self, tier: str, sha256: str) -> str:
        """Hash the complete ``.part``; if it is ``sha256`` it becomes the arrived file. Returns the digest; a
        corrupt arrival is emptied (to be re-sent from byte 0)."""
        part = self.part_path(tier, sha256)
        got = sha256_file(part)
        if got == sha256:
            os.replace(part, self.arrived_path(tier, sha256))
        else:
            part.write_bytes(b"")
        return got
