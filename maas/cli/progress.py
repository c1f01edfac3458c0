"""Progress of long CLI operations on stderr: a rich progress bar on a terminal, plain lines otherwise (logs, CI,
pipes), so ``-o json`` on stdout stays clean.

    with Steps(7, "push churn-clf") as step:
        step("checked")                  # one step done; the bar (or the line) says which
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

__all__ = ["Steps"]


class Steps:
    """``total`` steps of ``description``; call the instance with what was just done. A context manager."""

    def __init__(self, total: int, description: str, stream: TextIO | None = None, enabled: bool = True,
                 force_terminal: bool | None = None) -> None:
        self.total = total
        self.description = description
        self.enabled = enabled
        self.console = Console(file=stream or sys.stderr, force_terminal=force_terminal)
        self.done = 0
        self._t0 = time.perf_counter()
        self._bar: Progress | None = None
        self._task = None

    def __enter__(self) -> Steps:
        if self.enabled and self.console.is_terminal:
            self._bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("{task.fields[last]}"), TimeElapsedColumn(), console=self.console,
                                 transient=True)
            self._bar.start()
            self._task = self._bar.add_task(self.description, total=self.total, last="")
        return self

    def __call__(self, what: str) -> None:
        self.done += 1
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.update(self._task, advance=1, last=what)
        else:
            elapsed_s = time.perf_counter() - self._t0
            self.console.print(f"{self.description}: {what} ({self.done}/{self.total}, {elapsed_s:.1f} s)",
                               highlight=False, soft_wrap=True)

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()
