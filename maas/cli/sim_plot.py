"""The Pareto picture of ``maas sim --plot``: SLO miss (1 - attainment, log) against energy per request.

The region that decides a comparison is attainment 0.95-1.0, so the y axis is the miss on a log scale, best at
the top, its ticks labelled as attainment. Every policy has its own marker and colour, named in a legend ordered
top to bottom like the points (no labels on top of each other); the oracle is a star, the frontier a dashed step.
"""

from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path

__all__ = ["plot_points", "pareto_front", "write_pareto"]

_MARKERS = "osD^vP<>Xhp8d*"


def plot_points(results: dict) -> list[tuple[str, float, float]]:
    """(label, energy J/req, attainment) per policy, the oracle's bound and replay last; skipped ones left out."""
    out: list[tuple[str, float, float]] = []
    for name, r in results.items():
        if "skipped" in r:
            continue
        if "replayed" in r:
            out.append(("oracle (bound)", r["energy_j_per_request"], r["slo_attainment"]))
            out.append(("oracle (replayed)", r["replayed"]["energy_j_per_request"], r["replayed"]["slo_attainment"]))
        else:
            out.append((name, r["energy_j_per_request"], r["slo_attainment"]))
    return out


def pareto_front(points: list[tuple[str, float, float]]) -> list[tuple[str, float, float]]:
    """The points no other point beats on both energy (lower) and attainment (higher), by energy ascending."""
    front: list[tuple[str, float, float]] = []
    for p in sorted(points, key=lambda p: (p[1], -p[2])):
        if not front or p[2] > front[-1][2]:
            front.append(p)
    return front


def _miss(attainment: float, floor: float) -> float:
    return max(1.0 - attainment, floor)


def write_pareto(results: dict, path: Path, title: str) -> None:
    """Write the PNG atomically (a temporary file in the same directory, then renamed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FixedLocator, FuncFormatter, LogLocator, NullLocator

    points = plot_points(results)
    misses = [1.0 - a for _, _, a in points if a < 1.0]
    floor = min([1e-4, *[m / 2 for m in misses if m > 0]])
    fig, ax = plt.subplots(figsize=(10, 5.5))
    cmap = plt.get_cmap("tab20")
    policies = [p for p in points if not p[0].startswith("oracle")]
    order = sorted(range(len(policies)), key=lambda i: (-policies[i][2], policies[i][1]))
    for k, i in enumerate(order):
        label, energy, att = policies[i]
        ax.scatter(energy, _miss(att, floor), marker=_MARKERS[k % len(_MARKERS)], s=70, color=cmap(k % 20),
                   edgecolor="black", linewidth=0.5, alpha=0.85, zorder=3, label=f"{label}  ({att:.2%}, {energy:.3g} J)")
    for label, energy, att in points:
        if label.startswith("oracle"):
            bound = label == "oracle (bound)"
            ax.scatter(energy, _miss(att, floor), marker="*", s=260, zorder=4, color="gold" if bound else "white",
                       edgecolor="black", linewidth=1.0,
                       label=f"{'offline oracle (bound)' if bound else 'oracle plan replayed'}  ({att:.2%}, "
                             f"{energy:.3g} J)")
    front = pareto_front(policies)
    if len(front) > 1:
        xs, ys = [front[0][1]], [_miss(front[0][2], floor)]
        for _, e, a in front[1:]:
            xs += [e, e]
            ys += [ys[-1], _miss(a, floor)]
        ax.plot(xs, ys, ls="--", color="0.35", lw=1.2, zorder=2, label="Pareto frontier (policies)")
    energies = [e for _, e, _ in points if e > 0]
    if energies and max(energies) > 20 * min(energies):
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:g}"))
    ax.set_yscale("log")
    ax.invert_yaxis()  # best (smallest miss) at the top
    lo = min(_miss(a, floor) for _, _, a in points)
    ticks = [t for t in (1.0, 0.3, 0.1, 0.03, 0.01, 3e-3, 1e-3, 3e-4, 1e-4, 3e-5, 1e-5) if t >= lo / 1.5]
    ax.yaxis.set_major_locator(FixedLocator(ticks))
    ax.yaxis.set_minor_locator(NullLocator())
    ax.yaxis.set_major_formatter(FuncFormatter(lambda m, _: f"{(1 - m) * 100:.{_decimals(m)}f}%"))
    ax.set_xlabel("energy per request (J, lower is better)")
    ax.set_ylabel("SLO attainment (log scale of the miss, higher is better)")
    ax.set_title(title)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False,
              title="policy (attainment, J/req)", title_fontsize=8, borderaxespad=0.0)
    fig.tight_layout()
    fd, tmp = tempfile.mkstemp(suffix=".png", dir=str(path.parent))
    os.close(fd)
    try:
        fig.savefig(tmp, format="png", dpi=120)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        plt.close(fig)
        if os.path.exists(tmp):
            os.unlink(tmp)


def _decimals(miss: float) -> int:
    """Decimals of an attainment tick so that its miss shows (miss 0.003 -> 99.7%, 1e-4 -> 99.99%)."""
    return max(0, -math.floor(math.log10(miss) + 1e-9) - 2)
