"""PNG plots of a result (matplotlib, Agg backend, returned as bytes): latency over time, the percentile
spectrum, tier share over time and energy per request."""

from __future__ import annotations

import io
from typing import Any

import numpy as np

from maas.loadtest import histograms as H

__all__ = ["latency_over_time_png", "spectrum_png", "tier_share_png", "energy_png", "all_plots"]


def _figure(width: float = 8.0, height: float = 3.6) -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg", force=True)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    return fig, fig.add_subplot(1, 1, 1)


def _plain_log_labels(axis: Any) -> None:
    """Numbers (2, 5, 10, 20) on a log axis instead of powers of ten (6 x 10^1)."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_formatter(NullFormatter())


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def latency_over_time_png(result: dict[str, Any]) -> bytes:
    """p50, p99 and max latency per window of intended send time."""
    ts = result["timeseries"]
    fig, ax = _figure()
    for key, label in (("p50_ms", "p50"), ("p99_ms", "p99"), ("max_ms", "max")):
        ax.plot(ts["t_s"], ts[key], label=label, linewidth=1.2)
    ax.set_xlabel("intended send time (s)")
    ax.set_ylabel("latency (ms)")
    ax.set_yscale("log")
    _plain_log_labels(ax.yaxis)
    ax.set_title("Latency from intended send time, per window")
    ax.legend(loc="upper left")
    ax.grid(alpha=0.3)
    return _png(fig)


def spectrum_png(results: dict[str, dict[str, Any]]) -> bytes:
    """Latency percentile spectrum (x = 1/(1-p), log) of one or more results, from their HDR data."""
    fig, ax = _figure()
    x_max = 10.0
    for name, result in results.items():
        for kind, style in (("latency", "-"), ("service", ":")):
            pcts, vals = H.spectrum_ms(H.decode(result["hdr"][kind]))
            keep = pcts < 100.0
            if not keep.any():
                continue
            x = 1.0 / (1.0 - pcts[keep] / 100.0)
            x_max = max(x_max, float(x.max()))
            ax.plot(x, vals[keep], style, label=f"{name} {kind}")
    ax.set_xscale("log")
    ticks = [t for t in (1, 2, 10, 100, 1000, 10000, 100000) if t <= x_max * 1.5]  # only where there is data
    ax.set_xticks(ticks)
    ax.set_xticklabels(["0%", "50%", "90%", "99%", "99.9%", "99.99%", "99.999%"][: len(ticks)])
    ax.set_xlim(0.9, x_max * 1.5)
    ax.set_xlabel("percentile")
    ax.set_ylabel("ms")
    ax.set_title("Percentile spectrum (solid: latency from intended send; dotted: service time)")
    ax.legend(loc="upper left", fontsize=8)
    ax.grid(alpha=0.3)
    return _png(fig)


def tier_share_png(result: dict[str, Any]) -> bytes | None:
    """Share of requests served by each tier per window (None when no tier was reported)."""
    ts = result["timeseries"]
    tiers = ts.get("tiers") or {}
    if not tiers:
        return None
    counts = np.asarray([tiers[t] for t in sorted(tiers)], dtype=float)
    totals = counts.sum(axis=0)
    shares = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
    fig, ax = _figure()
    ax.stackplot(ts["t_s"], shares, labels=sorted(tiers))
    ax.set_ylim(0, 1)
    ax.set_xlabel("intended send time (s)")
    ax.set_ylabel("share of requests")
    ax.set_title("Tier share over time")
    handles, labels = ax.get_legend_handles_labels()  # top band first, like the picture; outside the data
    ax.legend(handles[::-1], labels[::-1], loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    return _png(fig)


def energy_png(result: dict[str, Any]) -> bytes | None:
    """Energy per request by tier and by model (None when no energy was reported)."""
    rows = [(f"tier {n}", g["energy_j_per_request"]) for n, g in sorted(result["per_tier"].items())]
    rows += [(f"model {n}", g["energy_j_per_request"]) for n, g in sorted(result["per_model"].items())]
    rows = [(n, v) for n, v in rows if v is not None]
    if not rows:
        return None
    fig, ax = _figure(8.0, 0.5 + 0.4 * len(rows))
    bars = ax.barh([n for n, _ in rows], [v for _, v in rows], color="#4c72b0")
    ax.bar_label(bars, labels=[f"{v:.3g} J" for _, v in rows], padding=3, fontsize=8)
    ax.set_xlim(0, max(v for _, v in rows) * 1.15)
    ax.set_xlabel("energy per request (J)")
    ax.set_title("Energy per request")
    ax.invert_yaxis()
    return _png(fig)


def all_plots(result: dict[str, Any]) -> dict[str, bytes]:
    """Every plot that has data, by name."""
    plots = {"latency_over_time": latency_over_time_png(result), "spectrum": spectrum_png({"run": result})}
    for name, fn in (("tier_share", tier_share_png), ("energy", energy_png)):
        png = fn(result)
        if png is not None:
            plots[name] = png
    return plots
