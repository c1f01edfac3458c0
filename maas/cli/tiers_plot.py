"""The picture of ``maas tiers timeline --plot``: when the site can reach a satellite, eclipses, batteries, outages.

Three panels on one time axis, one legend whose colours are the ones drawn: (1) any satellite in view and grid
outages, (2) each satellite's contact windows with its eclipses (more than 40
satellites: how many are in view, and how many of those in eclipse), (3) the battery charge as a band over the seen
satellites (min-max, median) with the satellites in view at the start drawn as lines.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

__all__ = ["write_timeline"]

_CONTACT, _ECLIPSE, _OUTAGE, _BAND = "tab:blue", "0.55", "tab:red", "tab:green"
_NOW_COLOURS = ("tab:orange", "tab:purple", "tab:brown", "tab:pink", "tab:olive")


def write_timeline(doc: dict, path: Path, t0_s: float) -> None:
    """Write the PNG atomically; ``doc`` is ``site_timeline``'s result, hours counted from ``t0_s``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    from maas.tiers.timeline import battery_band, in_view, in_view_counts

    h = lambda x: (x - t0_s) / 3600.0  # noqa: E731
    sats = sorted({w["satellite"] for w in doc["windows"]}, key=lambda s: min(
        w["start_s"] for w in doc["windows"] if w["satellite"] == s))
    fig, (ax0, ax1, ax2) = plt.subplots(3, 1, figsize=(11, 7.5), sharex=True, height_ratios=[0.5, 2.0, 1.6])
    t1_s = t0_s + max(60.0, max([w["end_s"] for w in doc["windows"]] + [b["t_s"] for b in doc["battery"]]
                                + [t0_s]) - t0_s)
    grid = np.linspace(t0_s, t1_s, 1441)
    for w in doc["windows"]:
        ax0.barh(1, h(w["end_s"]) - h(w["start_s"]), left=h(w["start_s"]), color=_CONTACT, height=0.7)
    for o in doc["outages"]:
        ax0.barh(0, h(o["end_s"]) - h(o["start_s"]), left=h(o["start_s"]), color=_OUTAGE, height=0.7)
        for ax in (ax1, ax2):
            ax.axvspan(h(o["start_s"]), h(o["end_s"]), color=_OUTAGE, alpha=0.15, lw=0)
    ax0.set_yticks([0, 1], ["grid outage", "any satellite\nin view"], fontsize=8)
    ax0.set_ylim(-0.6, 1.6)
    if len(sats) <= 40:  # few satellites: one row each, contact windows with the eclipses over them
        row = {s: i for i, s in enumerate(sats)}
        for w in doc["windows"]:
            ax1.barh(row[w["satellite"]], h(w["end_s"]) - h(w["start_s"]), left=h(w["start_s"]),
                     color=_CONTACT, height=0.8)
        for e in doc["eclipses"]:
            ax1.barh(row[e["satellite"]], h(e["end_s"]) - h(e["start_s"]), left=h(e["start_s"]),
                     color=_ECLIPSE, height=0.8)
        ax1.set_yticks(range(len(sats)), sats, fontsize=6)
        ax1.set_ylim(-1, max(len(sats), 1))
        ax1.invert_yaxis()
        ax1.set_ylabel(f"{len(sats)} satellites seen", fontsize=9)
    else:  # many: how many are in view, and how many of those are in eclipse
        seen, dark = in_view_counts(doc, grid)
        k = max(1, (len(grid) - 1) // 144)  # mean over ~1/144 of the period (10 min of a day): readable steps
        n = (len(grid) - 1) // k * k
        edges = h(grid[:n:k])
        seen = seen[:n].reshape(-1, k).mean(axis=1)
        dark = dark[:n].reshape(-1, k).mean(axis=1)
        ax1.fill_between(edges, 0, seen, step="post", color=_CONTACT, lw=0)
        ax1.fill_between(edges, 0, dark, step="post", color=_ECLIPSE, lw=0)
        ax1.set_ylim(0, max(1, int(seen.max()) + 1))
        step_s = k * (grid[1] - grid[0])
        step = f"{step_s / 60:.0f} min" if step_s >= 60 else f"{step_s:.0f} s"
        ax1.set_ylabel(f"satellites in view\n(mean per {step};\n{len(sats)} seen in all)", fontsize=9)
        ax1.grid(True, alpha=0.3)
    handles: list = [Patch(color=_CONTACT, label="in view (contact window)"),
                     Patch(color=_ECLIPSE, label="in view, in eclipse"),
                     Patch(color=_OUTAGE, label="grid outage")]
    band = battery_band(doc["battery"], grid)
    kj = 1e-3
    if doc["battery"]:
        ax2.fill_between(h(grid), band["min"] * kj, band["max"] * kj, color=_BAND, alpha=0.25, lw=0)
        ax2.plot(h(grid), band["median"] * kj, color=_BAND, lw=1.5)
        handles += [Patch(color=_BAND, alpha=0.25, label="battery min-max over the satellites seen"),
                    Line2D([], [], color=_BAND, lw=1.5, label="battery median")]
    now = in_view(doc["windows"], t0_s)
    for colour, name in zip(_NOW_COLOURS, now, strict=False):
        pts = [(b["t_s"], b["soc_j"]) for b in doc["battery"] if b["satellite"] == name]
        if pts:
            ax2.plot([h(t) for t, _ in pts], [j * kj for _, j in pts], color=colour, lw=1.2)
            handles.append(Line2D([], [], color=colour, lw=1.2, label=f"{name} (in view at start)"))
    ax2.set_ylabel("battery kJ", fontsize=9)
    ax2.set_xlabel(f"hours after {doc['start']}")
    ax2.set_xlim(0, h(grid[-1]))
    ax2.grid(True, alpha=0.3)
    fig.suptitle(f"{doc['site']}: satellites in view, eclipses, batteries and grid outages, "
                 f"{doc['start']} .. {doc['end']}", fontsize=11)
    rows = -(-len(handles) // 4)
    fig.legend(handles=handles, loc="lower center", ncol=min(4, len(handles)), fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.01 + 0.028 * rows, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".png")
    os.close(fd)
    try:
        fig.savefig(tmp, dpi=120, format="png")
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        plt.close(fig)
        if os.path.exists(tmp):
            os.unlink(tmp)
