"""Trace replay: a JSONL file with one request per line, ``{"t_s": 0.125, "model": "digits-mlp", ...}``.

``t_s`` is the intended send time in seconds after the start; the other keys describe the request with the fields
of ``MixEntry`` (model, tenant, rows, deadline_ms, objective, site, tier, strict, api_key). Identical descriptions
share one mix entry. Blank lines and lines starting with ``#`` are skipped; anything else malformed is a
``ConfigError`` naming the line.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from pydantic import ValidationError

from maas.errors import ConfigError
from maas.loadtest.mix import MixEntry, RequestMix
from maas.loadtest.schedule import Schedule

__all__ = ["load_trace"]


def load_trace(path: str | Path, variants: int = 8, seed: int = 0) -> tuple[Schedule, RequestMix]:
    """The schedule and the mix described by a trace file (times are sorted; variants drawn from ``seed``)."""
    p = Path(path)
    try:
        lines = p.read_text().splitlines()
    except (FileNotFoundError, IsADirectoryError):
        raise ConfigError(str(p), "-", "trace file not found") from None
    times: list[float] = []
    keys: list[str] = []
    entries: dict[str, int] = {}
    mix_entries: list[MixEntry] = []
    for n, line in enumerate(lines, start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        try:
            row = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(str(p), f"line {n}", f"not JSON: {exc.msg}") from None
        if not isinstance(row, dict):
            raise ConfigError(str(p), f"line {n}", "expected a JSON object")
        t_s = row.pop("t_s", None)
        if not isinstance(t_s, (int, float)) or isinstance(t_s, bool) or t_s < 0 or t_s != t_s:
            raise ConfigError(str(p), f"line {n}: t_s", "missing or not a number >= 0")
        row.pop("weight", None)
        try:
            entry = MixEntry.model_validate(row)
        except ValidationError as exc:
            err = exc.errors()[0]
            field = ".".join(str(x) for x in err["loc"]) or "-"
            raise ConfigError(str(p), f"line {n}: {field}", err["msg"]) from None
        key = entry.model_dump_json()
        if key not in entries:
            entries[key] = len(mix_entries)
            mix_entries.append(entry)
        times.append(float(t_s))
        keys.append(key)
    if not times:
        raise ConfigError(str(p), "-", "trace has no requests")
    offsets = np.asarray(times, dtype=np.float64)
    order = np.argsort(offsets, kind="stable")
    entry_idx = np.asarray([entries[k] for k in keys], dtype=np.int32)[order]
    rng = np.random.default_rng(seed)
    variant = (rng.random(offsets.size) * variants).astype(np.int32)
    offsets = offsets[order]
    duration_s = float(offsets[-1]) + 1e-3
    counts = np.bincount(entry_idx, minlength=len(mix_entries))
    mix = RequestMix(
        entries=[e.model_copy(update={"weight": float(max(c, 1))}) for e, c in zip(mix_entries, counts, strict=True)]
    )
    return Schedule(offsets, entry_idx, variant, duration_s, offsets.size / duration_s), mix
