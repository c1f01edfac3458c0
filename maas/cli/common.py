"""Helpers shared by the CLI commands: exit codes, error printing, settings from flags."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer

from maas.errors import ConfigError, InvalidInput, MaasError, ModelNotFound
from maas.settings import Settings, load_settings

__all__ = ["EXIT_OK", "EXIT_ERROR", "EXIT_USAGE", "fail", "errors_to_exit", "settings_from"]

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2


def fail(message: str, code: int) -> typer.Exit:
    print(f"error: {message}", file=sys.stderr)
    return typer.Exit(code)


@contextmanager
def errors_to_exit() -> Iterator[None]:
    """Usage errors (bad config, unknown model/tier) exit 2; other platform errors exit 1; no tracebacks."""
    try:
        yield
    except (ConfigError, InvalidInput, ModelNotFound) as exc:
        raise fail(exc.message, EXIT_USAGE) from None
    except MaasError as exc:
        raise fail(exc.message, EXIT_ERROR) from None


def settings_from(config: Path | None, **flags: object) -> Settings:
    with errors_to_exit():
        return load_settings(config, **flags)
