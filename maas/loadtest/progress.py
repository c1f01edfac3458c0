"""Live progress on stderr: a rich live line on a terminal, plain lines every few seconds otherwise.

rich's Console honours ``NO_COLOR``; stdout is never used, so ``-o json`` output stays clean."""

from __future__ import annotations

import sys
from typing import Any, TextIO

from rich.console import Console
from rich.live import Live
from rich.text import Text

from maas.loadtest.runner import Progress

__all__ = ["ProgressView", "format_progress"]


def format_progress(p: Progress) -> str:
    """One line describing a progress snapshot."""
    sched = f" scheduled={p.scheduled}/{p.total}" if p.total else ""
    stop = " (stopping: Ctrl-C again to abort)" if p.stopping else ""
    return (
        f"t={max(p.elapsed_s, 0.0):6.1f}s{sched} sent={p.sent} done={p.done} errors={p.errors} "
        f"in_flight={p.in_flight}{stop}"
    )


class ProgressView:
    """Callable progress sink; a context manager (``with ProgressView() as view: run(..., view)``)."""

    def __init__(self, stream: TextIO | None = None, plain_every_s: float = 5.0, enabled: bool = True) -> None:
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.console = Console(file=self.stream)
        self.tty = self.console.is_terminal
        self.plain_every_s = plain_every_s
        self._next_plain_s = 0.0
        self._live: Live | None = None

    def __enter__(self) -> ProgressView:
        if self.enabled and self.tty:
            self._live = Live(
                Text("starting generator processes..."), console=self.console, refresh_per_second=4, transient=False
            )
            self._live.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._live is not None:
            self._live.__exit__(None, None, None)
            self._live = None

    def __call__(self, p: Progress) -> None:
        if not self.enabled:
            return
        line = format_progress(p)
        if self._live is not None:
            style = "yellow" if p.stopping else ("red" if p.errors else "green")
            self._live.update(Text(line, style=style))
        elif p.elapsed_s >= self._next_plain_s or p.stopping:
            self.stream.write(line + "\n")
            self.stream.flush()
            self._next_plain_s = p.elapsed_s + self.plain_every_s
