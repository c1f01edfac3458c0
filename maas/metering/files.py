"""Private files in the data directory: the server secret and the bootstrap keys (mode 0600, written atomically)."""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

from maas.errors import ConfigError

__all__ = ["SERVER_SECRET_FILE", "load_server_secret", "write_private_file"]

SERVER_SECRET_FILE = "server.secret"
SERVER_SECRET_BYTES = 32


def _temp_file(path: Path, text: str) -> Path:
    """Write ``text`` to a new 0600 file next to ``path`` (flushed to disk) and return its name."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, text.encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)
    return temp


def write_private_file(path: Path, text: str) -> None:
    """Replace ``path`` atomically with ``text``, readable by the owner only (0600)."""
    temp = _temp_file(path, text)
    try:
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def load_server_secret(data_dir: Path) -> bytes:
    """The server's HMAC key from ``<data_dir>/server.secret``, created once (atomically, 0600) if missing.

    Two processes starting at once agree: the file is published with ``link`` (which never overwrites), so the
    loser reads the winner's secret. A secret readable by group or others is refused.
    """
    path = Path(data_dir) / SERVER_SECRET_FILE
    if not path.exists():
        temp = _temp_file(path, secrets.token_bytes(SERVER_SECRET_BYTES).hex() + "\n")
        try:
            os.link(temp, path)
        except FileExistsError:
            pass
        finally:
            temp.unlink(missing_ok=True)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise ConfigError(str(path), "mode", f"is {mode:04o}: readable by others", "0600 (chmod 600)")
    text = path.read_text(encoding="ascii", errors="replace").strip()
    try:
        secret = bytes.fromhex(text)
    except ValueError:
        secret = b""
    if len(secret) < 16:
        raise ConfigError(str(path), "content", "is not a hex-encoded secret of at least 16 bytes")
    return secret
