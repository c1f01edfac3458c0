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
    """3 significant figures without exponent for 1e-4 <= |v| < 1e6 (whole units from 1000; integers as they
    are); ``-`` for None."""
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
    if abs(v) < 1000:
        v = float(f"{v:.3g}")  # round first: 0.9996 is 1.00, not 1.000; 1000 and above: whole units
    mag = math.floor(math.log10(abs(v)))
    if mag < -4 or mag >= 6:
        return f"{v:.2e}"
    return f"{v:.{max(0, 2 - mag)}f}"


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
    decimals = max(2, min(5, 1 - math.floor(math.log10(miss) + 1e-9)))
    return f"{float(v) * 100.0:.{decimals}f}"


def scaled(factor: float) -> Callable[[Any], str]:
    """A formatter of ``v * factor`` (e.g. grams shown as milligrams: ``scaled(1e3)``)."""
    return lambda v: "-" if v is None else num(float(v) * factor)


def text(v: Any) -> str:
    return "-" if v is None else str(v)


@dataclass(frozen=True)
class Col:
    """One column: ``get`` is a key, an attribute name or a function of the row; priority 0 is always shown.

    A column is as wide as its longest cell (names are never cut), except a ``wrap`` column, whose text wraps.
    """

    header: str
    get: str | Callable[[Any], Any] | None = None
    unit: str = ""
    fmt: Callable[[Any], str] = num
    priority: int = 0
    left: bool = False
    wrap: bool = False  # prose (a source, a reason): wrapped at spaces into the width the others leave

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


def _narrowest(cols: Sequence[Col], cells: list[list[str]], natural: list[int]) -> list[int]:
    """A wrapped column's least width: its longest word or header line, at least 12 (or its natural width)."""
    heads = _headers(cols)
    out = []
    for i, c in enumerate(cols):
        if not c.wrap:
            out.append(natural[i])
            continue
        words = [len(w) for row in cells for w in row[i].split()] + [len(h) for h in heads[i]]
        out.append(min(natural[i], max(12, *words)))
    return out


_GAP = 2  # characters between columns, the same in plain text and rich (right padding 1 + the box's space)


def fit(view: View, width: int) -> list[Col]:
    """The columns to show at ``width``: priority 0 always, then by priority (left first) each that still fits."""
    cols = list(view.columns)
    cells = _cells(view, cols)
    widths = _narrowest(cols, cells, _natural(cols, cells))
    keep = {i for i, c in enumerate(cols) if c.priority == 0}
    used = sum(widths[i] for i in keep) + _GAP * (len(keep) - 1)
    for i in sorted((i for i, c in enumerate(cols) if c.priority > 0), key=lambda i: (cols[i].priority, i)):
        if used + _GAP + widths[i] <= width:
            keep.add(i)
            used += _GAP + widths[i]
    return [c for i, c in enumerate(cols) if i in keep]


def _layout(view: View, cols: Sequence[Col], width: int) -> tuple[list[int], list[list[list[str]]]]:
    """Column widths (wrapped columns share what the others leave) and each row's cells as lines."""
    cells = _cells(view, cols)
    natural = _natural(cols, cells)
    widths = _narrowest(cols, cells, natural)
    spare = width - sum(widths) - _GAP * (len(cols) - 1)
    needs = {i: natural[i] - widths[i] for i, c in enumerate(cols) if c.wrap}
    total = sum(needs.values())
    for i, need in needs.items():  # what is left, shared in proportion to what each wrapped column lacks
        if spare > 0 and total > 0:
            widths[i] += need if total <= spare else spare * need // total
    rows = [[textwrap.wrap(v, widths[i], break_long_words=False, break_on_hyphens=False) or [""]
             if cols[i].wrap else [v] for i, v in enumerate(row)] for row in cells]
    return widths, rows


def _title(view: View, width: int, table_w: int) -> list[str]:
    if not view.title:
        return []
    return [ln.center(table_w).rstrip() if len(ln) < table_w else ln
            for ln in textwrap.wrap(view.title, max(width, 20), break_long_words=False)]


def _notes(view: View, width: int) -> str:
    out = ""
    for note in view.notes:
        out += "\n".join(textwrap.wrap(note, width, break_long_words=False, break_on_hyphens=False)) + "\n"
    return out


def _plain(view: View, cols: Sequence[Col], width: int) -> str:
    widths, rows = _layout(view, cols, width)
    heads = _headers(cols)
    lines = _title(view, width, sum(widths) + _GAP * (len(cols) - 1))

    def line(values: Sequence[str]) -> str:
        parts = [v.ljust(w) if c.left else v.rjust(w) for v, w, c in zip(values, widths, cols, strict=True)]
        return (" " * _GAP).join(parts).rstrip()

    for k in range(len(heads[0]) if heads else 0):
        lines.append(line([h[k] for h in heads]))
    lines.append((" " * _GAP).join("-" * w for w in widths))
    for row in rows:
        for k in range(max(len(cell) for cell in row)):
            lines.append(line([cell[k] if k < len(cell) else "" for cell in row]))
    return "\n".join(lines) + "\n" + _notes(view, width)


def _rich(view: View, cols: Sequence[Col], width: int, color: bool) -> str:
    from rich import box
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    widths, rows = _layout(view, cols, width)
    two = any(c.unit for c in cols)
    table = Table(title=view.title, box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, padding=(0, 1, 0, 0))
    for c, w in zip(cols, widths, strict=True):
        table.add_column(Text(f"{c.header}\n{c.unit}" if two else c.header), justify="left" if c.left else "right",
                         no_wrap=True, min_width=w, max_width=w, overflow="fold")
    for row in rows:
        table.add_row(*[Text("\n".join(cell)) for cell in row])  # plain text: "[...]" in a cell is not markup
    buf = io.StringIO()
    console = Console(file=buf, width=max(width, sum(widths) + _GAP * len(cols)), force_terminal=color,
                      color_system="standard" if color else None, highlight=False, soft_wrap=False)
    console.print(table)
    return buf.getvalue() + _notes(view, width)


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
