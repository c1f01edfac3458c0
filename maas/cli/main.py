"""The ``maas`` command: thin wrappers over library functions. Exit codes: 0 ok, 1 error, 2 usage."""

from __future__ import annotations

import typer

from maas.cli import platform

__all__ = ["app", "main"]

app = typer.Typer(
    name="maas",
    help="Model-as-a-Service across base-station, optical-access, ground and satellite tiers.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
platform.register(app)


def main() -> None:
    app()
