"""The one table helper of every ``maas`` command: columns that fit the width, numbers for their magnitude.

It lives at the top level (not in ``maas.cli``) because ``maas.loadtest`` renders tables too and may import
nothing above it. How a table is printed:

1. A command describes its table as a :class:`View`: a title, :class:`Col` columns (header, unit, formatter,
   priority) and rows (dicts or objects; a column reads a key, an attribute or calls a function).
2. :func:`render` picks the output: ``table`` fits the width (``COLUMNS`` or the terminal's, 80 when piped):
   the columns of priority 0, then each other column that still fits, lowest ``priority`` number (then
   leftmost) first; ``wide`` keeps them all; ``csv`` writes the raw values, ``json`` a list of objects keyed
   like the csv header.
3. On a terminal the table is drawn by rich; otherwise it is plain aligned text with the same layout.
   A cell is never cut: a column is as wide as its longest cell, the title and notes wrap at spaces.

Numbers show 3 significant figures (:func:`num`); the unit goes in the header (``J/req``, ``mg CO2/req``),
on a second header line, so a column is not wider than its figures.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import shutil
import sys
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

__all__ = ["OUTPUTS", "Col", "View", "attainment", "check_output", "fit", "num", "pct", "render", "scaled",
           "text", "to_text", "width_now"]

OUTPUTS = ("table", "wide", "json", "csv")


def num(v: Any) -> str:
    """3 significant figures without exponent for 1e-4 <= |v| < 1e6 (integers as they are); ``-`` for None."""
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return str(v)
    if not isinstance(v, float):
        return str(v)
    if math.isnan(v) or math.isinf(v):
        return str(v)
    if v == 0:
        return "0"
    mag = math.floor(math.log10(abs(v)))
    if mag < -4 or mag >= 6:
        return f"{v:.2e}"
    decimals = max(0, 2 - mag)
    out = f"{round(v, decimals):.{decimals}f}"
    return out


def pct(v: Any) -> str:
    """A fraction as a percentage, 3 significant figures (``0.3789`` -> ``37.9``)."""
    return "-" if v is None else num(float(v) * 100.0)


def attainment(v: Any) -> str:
    """A fraction near 1 as a percentage with enough decimals to show 2 figures of the miss (0.99871 -> 99.87)."""
    if v is None:
        return "-"
    miss = 100.0 - float(v) * 100.0
    if miss <= 0:
        return "100"
    decimals = max(2, min(5, 1 - math.floor(math.log10(miss))))
    return f"{float(v) * 100.0:.{decimals}f}"


def scaled(factor: float) -> Callable[[Any], str]:
    """A formatter of ``v * factor`` (e.g. grams shown as milligrams: ``scaled(1e3)``)."""
    return lambda v: "-" if v is None else num(float(v) * factor)


def text(v: Any) -> str:
    return "-" if v is None else str(v)


@dataclass(frozen=True)
class Col:
    """One column: ``get`` is a key, an attribute name or a function of the row; priority 0 is always shown."""

    header: str
    get: str | Callable[[Any], Any] | None = None
    unit: str = ""
    fmt: Callable[[Any], str] = num
    priority: int = 0
    left: bool = False

    def value(self, row: Any) -> Any:
        key = self.header if self.get is None else self.get
        if callable(key):
            return key(row)
        if isinstance(row, dict):
            return row.get(key)
        return getattr(row, key, None)

    @property
    def label(self) -> str:
        """The header as one line, with the unit (csv and json keys)."""
        return f"{self.header} ({self.unit})" if self.unit else self.header


@dataclass
class View:
    """A table to print: title, columns, rows, and lines printed after it (wrapped at the width)."""

    title: str | None
    columns: Sequence[Col]
    rows: Sequence[Any]
    notes: list[str] = field(default_factory=list)


def width_now() -> int:
    """``COLUMNS`` when set, else the terminal's width, else 80."""
    return shutil.get_terminal_size((80, 24)).columns


def check_output(output: str, allowed: Sequence[str] = OUTPUTS) -> str | None:
    """None when ``output`` is allowed, else the message naming the allowed values."""
    if output in allowed:
        return None
    return f"-o/--output: unknown format {output!r} (allowed: {', '.join(allowed)})"


def _cells(view: View, cols: Sequence[Col]) -> list[list[str]]:
    return [[c.fmt(c.value(r)) for c in cols] for r in view.rows]


def _headers(cols: Sequence[Col]) -> list[list[str]]:
    two = any(c.unit for c in cols)
    return [[c.header, c.unit] if two else [c.header] for c in cols]


def _natural(cols: Sequence[Col], cells: list[list[str]]) -> list[int]:
    heads = _headers(cols)
    return [max([len(h) for h in heads[i]] + [len(row[i]) for row in cells]) for i in range(len(cols))]


_GAP = 2  # characters between columns, the same in plain text and rich (right padding 1 + the box's space)


def fit(view: View, width: int) -> list[Col]:
    """The columns to show at ``width``: priority 0 always, then by priority (left first) each that still fits."""
    cols = list(view.columns)
    widths = _natural(cols, _cells(view, cols))
    keep = {i for i, c in enumerate(cols) if c.priority == 0}
    used = sum(widths[i] for i in keep) + _GAP * (len(keep) - 1)
    for i in sorted((i for i, c in enumerate(cols) if c.priority > 0), key=lambda i: (cols[i].priority, i)):
        if used + _GAP + widths[i] <= width:
            keep.add(i)
            used += _GAP + widths[i]
    return [c for i, c in enumerate(cols) if i in keep]


def _plain(view: View, cols: Sequence[Col], width: int) -> str:
    cells = _cells(view, cols)
    widths = _natural(cols, cells)
    heads = _headers(cols)
    lines: list[str] = []
    table_w = sum(widths) + _GAP * (len(cols) - 1)
    if view.title:
        lines += [ln.center(table_w).rstrip() if len(ln) < table_w else ln
                  for ln in textwrap.wrap(view.title, max(width, 20), break_long_words=False)]

    def line(values: Sequence[str]) -> str:
        parts = [v.ljust(w) if c.left else v.rjust(w) for v, w, c in zip(values, widths, cols, strict=True)]
        return (" " * _GAP).join(parts).rstrip()

    for k in range(len(heads[0]) if heads else 0):
        lines.append(line([h[k] for h in heads]))
    lines.append((" " * _GAP).join("-" * w for w in widths))
    lines += [line(row) for row in cells]
    for note in view.notes:
        lines += textwrap.wrap(note, width, break_long_words=False, break_on_hyphens=False) or [""]
    return "\n".join(lines) + "\n"


def _rich(view: View, cols: Sequence[Col], width: int, color: bool) -> str:
    from rich import box
    from rich.console import Console
    from rich.table import Table

    cells = _cells(view, cols)
    widths = _natural(cols, cells)
    two = any(c.unit for c in cols)
    table = Table(title=view.title, box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, padding=(0, 1, 0, 0))
    for c, w in zip(cols, widths, strict=True):
        table.add_column(f"{c.header}\n{c.unit}" if two else c.header, justify="left" if c.left else "right",
                         no_wrap=True, min_width=w, overflow="fold")
    for row in cells:
        table.add_row(*row)
    buf = io.StringIO()
    console = Console(file=buf, width=max(width, sum(widths) + _GAP * len(cols)), force_terminal=color,
                      color_system="standard" if color else None, highlight=False, soft_wrap=False)
    console.print(table)
    out = buf.getvalue()
    for note in view.notes:
        out += "\n".join(textwrap.wrap(note, width, break_long_words=False, break_on_hyphens=False)) + "\n"
    return out


def to_text(view: View, width: int, *, wide: bool = False, terminal: bool = False, color: bool = False) -> str:
    """The table as text at ``width`` columns: rich's drawing when ``terminal``, plain aligned text otherwise."""
    cols = list(view.columns) if wide else fit(view, width)
    return _rich(view, cols, width, color) if terminal else _plain(view, cols, width)


def _records(view: View) -> list[dict[str, Any]]:
    return [{c.label: c.value(r) for c in view.columns} for r in view.rows]


def render(view: View, output: str = "table", *, width: int | None = None, file: TextIO | None = None,
           terminal: bool | None = None) -> None:
    """Print ``view`` as ``output`` (table, wide, json, csv) to ``file`` (stdout)."""
    out = file or sys.stdout
    if output == "json":
        out.write(json.dumps(_records(view), indent=2, default=str) + "\n")
        return
    if output == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow([c.label for c in view.columns])
        for rec in _records(view):
            writer.writerow(["" if v is None else v for v in rec.values()])
        return
    if terminal is None:
        terminal = bool(getattr(out, "isatty", lambda: False)())
    color = terminal and "NO_COLOR" not in os.environ
    out.write(to_text(view, width or width_now(), wide=output == "wide", terminal=terminal, color=color))
