"""HDR histograms of durations in microseconds: recording, summaries, encoding and merging.

Every latency-like distribution in the load tester (latency from the intended send time, service time, dispatch
lateness) is an ``HdrHistogram`` from the ``hdrhistogram`` library with values in integer microseconds, 1 us to
1 hour, 3 significant digits. Worker processes send histograms back encoded (HdrHistogram's compressed base64
format) and the parent merges them with ``merge_encoded``.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from hdrh.histogram import HdrHistogram

__all__ = [
    "PERCENTILES",
    "new_histogram",
    "record_s",
    "summarize_ms",
    "encode",
    "decode",
    "merge_encoded",
    "spectrum_ms",
    "value_counts_ms",
    "percentiles_us",
]

LOWEST_US = 1
HIGHEST_US = 3_600 * 1_000_000
PERCENTILES: dict[str, float] = {"p50": 50.0, "p90": 90.0, "p99": 99.0, "p999": 99.9}


def new_histogram(significant_figures: int = 3) -> HdrHistogram:
    """An empty histogram of microseconds (1 us .. 1 h)."""
    return HdrHistogram(LOWEST_US, HIGHEST_US, significant_figures)


def record_s(hist: HdrHistogram, seconds: float) -> None:
    """Record a duration given in seconds (negative values clamp to 0, values above 1 h clamp to 1 h)."""
    us = int(seconds * 1e6 + 0.5)
    if us < 0:
        us = 0
    elif us > HIGHEST_US:
        us = HIGHEST_US
    hist.record_value(us)


def _nonzero(hist: HdrHistogram) -> tuple[np.ndarray, np.ndarray]:
    """Indices and counts of the non-empty buckets (numpy view of the counts array)."""
    n = min(hist.counts_len, hist.encoder.payload.counts_len)
    counts = np.ctypeslib.as_array(hist.counts)[:n]
    idx = np.flatnonzero(counts)
    return idx, counts[idx].astype(np.int64)


def percentiles_us(hist: HdrHistogram, pcts: list[float]) -> list[int]:
    """``hist.get_value_at_percentile`` for several percentiles at once, vectorised (same results)."""
    idx, counts = _nonzero(hist)
    if idx.size == 0:
        return [0 for _ in pcts]
    cum = np.cumsum(counts)
    out = []
    for pct in pcts:
        target = max(int(min(pct, 100.0) * hist.total_count / 100 + 0.5), 1)
        k = min(int(np.searchsorted(cum, target, side="left")), idx.size - 1)
        out.append(hist.get_highest_equivalent_value(hist.get_value_from_index(int(idx[k]))))
    return out


def summarize_ms(hist: HdrHistogram) -> dict[str, float | None]:
    """Percentiles p50/p90/p99/p999, max and mean in milliseconds (``None`` everywhere when empty)."""
    keys = [*PERCENTILES, "max", "mean"]
    if hist.get_total_count() == 0:
        return dict.fromkeys(keys)
    values = percentiles_us(hist, list(PERCENTILES.values()))
    out: dict[str, float | None] = {key: v / 1000.0 for key, v in zip(PERCENTILES, values, strict=True)}
    out["max"] = hist.get_max_value() / 1000.0
    out["mean"] = round(hist.get_mean_value() / 1000.0, 4)
    return out


def encode(hist: HdrHistogram) -> str:
    """HdrHistogram's compressed, base64 encoding as text (the ``.hlog`` line format)."""
    return hist.encode().decode("ascii")


def decode(text: str) -> HdrHistogram:
    """Inverse of ``encode``."""
    return HdrHistogram.decode(text.encode("ascii"))


def merge_encoded(texts: Iterable[str], significant_figures: int = 3) -> HdrHistogram:
    """One histogram holding the counts of every encoded histogram given."""
    total = new_histogram(significant_figures)
    for text in texts:
        if text:
            total.add(decode(text))
    return total


def spectrum_ms(hist: HdrHistogram, ticks_per_half_distance: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """The percentile spectrum: (percentiles 0..100, values in ms) for plotting against 1/(1-p)."""
    if hist.get_total_count() == 0:
        return np.zeros(0), np.zeros(0)
    pcts, vals = [], []
    for item in hist.get_percentile_iterator(ticks_per_half_distance):
        pcts.append(item.percentile_level_iterated_to)
        vals.append(item.value_iterated_to / 1000.0)
    return np.asarray(pcts, dtype=float), np.asarray(vals, dtype=float)


def value_counts_ms(hist: HdrHistogram) -> tuple[np.ndarray, np.ndarray]:
    """Distinct recorded values (ms, bucket-equivalent) and their counts, for resampling."""
    idx, counts = _nonzero(hist)
    vals = [hist.get_highest_equivalent_value(hist.get_value_from_index(int(i))) / 1000.0 for i in idx]
    return np.asarray(vals, dtype=float), counts
