"""``maas sim --report DIR``: one self-contained HTML page (figures embedded as PNG, nothing fetched) per run.

What it shows, from the run's figures and its per-request records (``maas.sim.engine.RunRecord``):
1. the figures table and the Pareto view (SLO attainment against energy per request, every policy and the oracle);
2. tier share over time (the main policy: which tier served each slice of the scenario, and what was dropped);
3. latency CDFs (every policy, log scale, the deadline-relevant tail readable);
4. the satellite battery over the run (state of charge after each request it served, main policy);
5. energy and carbon by tier (every policy);
6. the satellite timeline of the busiest site (``maas tiers timeline --plot``: contacts, eclipses, battery).

Each file is written atomically (a temporary file in DIR, renamed); DIR may exist only if it holds a previous report.
"""

from __future__ import annotations

import base64
import html
import io
import json
import os
import tempfile
from pathlib import Path

import numpy as np

from maas.routing import MAIN_POLICY

__all__ = ["write_report", "report_dir_problem", "REPORT_FILES"]

REPORT_FILES = ("index.html", "results.json")

_FIGURES = [("slo_attainment", "SLO", "{:.2%}"), ("energy_j_per_request", "J/req", "{:.4g}"),
            ("carbon_g_per_request", "g CO2/req", "{:.3g}"), ("p50_ms", "p50 ms", "{:.1f}"),
            ("p99_ms", "p99 ms", "{:.1f}"), ("goodput_rps", "goodput req/s", "{:.1f}"), ("dropped", "dropped", "{}")]


def _png(fig) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _main(records: dict) -> str:
    return MAIN_POLICY if MAIN_POLICY in records else next(iter(records))


def tier_share_series(rec, t_s: np.ndarray, tiers: list[str], bins: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Bin starts (s) and, per tier (and ``dropped``), the fraction of each bin's requests it took."""
    edges = np.linspace(0.0, float(t_s.max()) if len(t_s) else 1.0, bins + 1)
    which = np.clip(np.searchsorted(edges, t_s, side="right") - 1, 0, bins - 1)
    total = np.bincount(which, minlength=bins).astype(float)
    out = {}
    for k, tier in [*enumerate(tiers), (-1, "dropped")]:
        took = np.bincount(which[rec.tier == k], minlength=bins).astype(float)
        out[tier] = np.divide(took, total, out=np.zeros(bins), where=total > 0)
    return edges[:-1], out


def _time_axis(t_s: np.ndarray) -> tuple[float, str]:
    """Divisor and label: minutes for a scenario under two hours, hours otherwise."""
    if len(t_s) and float(t_s.max()) < 7200.0:
        return 60.0, "minutes since the scenario start"
    return 3600.0, "hours since the scenario start"


def _share_plot(rec, t_s, tiers, policy) -> str:
    plt = _plt()
    starts, share = tier_share_series(rec, t_s, tiers, bins=min(96, max(8, len(t_s) // 200)))
    fig, ax = plt.subplots(figsize=(10, 3.6))
    names = [t for t in share if share[t].any()]
    unit, label = _time_axis(t_s)
    ax.stackplot(starts / unit, *[share[t] for t in names], labels=names, alpha=0.85, step="post")
    ax.set_xlabel(label)
    ax.set_ylabel("share of requests")
    ax.set_ylim(0, 1)
    ax.set_title(f"tier share over time ({policy})")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    return _png(fig)


def _cdf_plot(records: dict) -> str:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(10, 3.6))
    q = np.linspace(0.0, 1.0, 400)
    for name, rec in records.items():
        lat = rec.latency_ms[np.isfinite(rec.latency_ms)]
        if len(lat):
            ax.plot(np.quantile(lat, q), q, label=name, lw=1.3)
    ax.set_xscale("log")
    ax.set_xlabel("latency (ms, log scale)")
    ax.set_ylabel("fraction of served requests")
    ax.grid(True, alpha=0.3)
    ax.set_title("latency CDF per policy")
    ax.legend(loc="lower right", fontsize=8)
    return _png(fig)


def _battery_plot(rec, t_s, policy) -> str | None:
    if rec.battery_soc is None or not np.isfinite(rec.battery_soc).any():
        return None
    plt = _plt()
    ok = np.isfinite(rec.battery_soc)
    fig, ax = plt.subplots(figsize=(10, 3.0))
    unit, label = _time_axis(t_s)
    ax.plot(t_s[ok] / unit, 100 * rec.battery_soc[ok], ".", ms=2, color="tab:green")
    ax.set_ylim(0, 100)
    ax.set_xlabel(label)
    ax.set_ylabel("state of charge (%)")
    ax.set_title(f"satellite battery after each request it served ({policy})")
    ax.grid(True, alpha=0.3)
    return _png(fig)


def by_tier(records: dict, tiers: list[str]) -> dict[str, dict[str, tuple[float, float]]]:
    """Per policy, per tier: (energy J, carbon g) summed over the requests the tier served."""
    return {name: {tier: (float(rec.energy_j[rec.tier == k].sum()), float(rec.carbon_g[rec.tier == k].sum()))
                   for k, tier in enumerate(tiers)} for name, rec in records.items()}


def _tier_bars(records: dict, tiers: list[str]) -> str:
    plt = _plt()
    sums = by_tier(records, tiers)
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
    x = np.arange(len(records))
    for ax, j, unit in ((axes[0], 0, "energy (J)"), (axes[1], 1, "carbon (g CO2e)")):
        bottom = np.zeros(len(records))
        for tier in tiers:
            vals = np.array([sums[name][tier][j] for name in records])
            ax.bar(x, vals, bottom=bottom, label=tier)
            bottom += vals
        ax.set_xticks(x, list(records), rotation=30, ha="right", fontsize=8)
        ax.set_ylabel(unit)
    axes[0].set_title("energy by tier")
    axes[1].set_title("carbon by tier")
    axes[1].legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return _png(fig)


def _timeline(prep) -> str | None:
    """The busiest site's satellite timeline over the day of the scenario (its duration if longer, at most two
    days), or None without a topology."""
    spec = prep.spec
    if spec.topology is None or not len(prep.inp.trace):
        return None
    from maas.cli.tiers_plot import write_timeline
    from maas.clock import ManualClock
    from maas.tiers import World, load_topology
    from maas.tiers.timeline import site_timeline

    topo = load_topology((Path(prep.file).parent / spec.topology).resolve())
    site = prep.inp.sites[int(np.bincount(prep.inp.trace.site).argmax())]
    t0 = prep.inp.epoch_s
    doc = site_timeline(World(topo, ManualClock(t0), seed=spec.seed), site, t0, t0 + min(max(prep.duration_s, 86400.0), 172800.0))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "timeline.png"
        write_timeline(doc, path, t0)
        return base64.b64encode(path.read_bytes()).decode("ascii")


def _table(results: dict) -> str:
    head = "".join(f"<th>{html.escape(label)}</th>" for _, label, _ in _FIGURES)
    rows = []
    for name, r in results.items():
        entries = [(name, r)] if "skipped" not in r else []
        if "replayed" in r:
            entries = [("oracle (bound)", r), ("oracle (replayed)", r["replayed"])]
        for label, fig in entries:
            cells = "".join(f"<td>{fmt.format(fig[key]) if fig.get(key) is not None else '–'}</td>"
                            for key, _, fmt in _FIGURES)
            rows.append(f"<tr><th>{html.escape(label)}</th>{cells}</tr>")
    return f"<table><tr><th>policy</th>{head}</tr>{''.join(rows)}</table>"


def write_report(directory: Path, results: dict, records: dict, prep, title: str) -> Path:
    """Write ``directory/index.html`` (self-contained) and ``directory/results.json``; returns the page's path."""
    from maas.cli.sim_plot import write_pareto

    tiers, t_s = list(prep.inp.tiers), np.asarray(prep.inp.trace.t_s, dtype=float)
    main = _main(records)
    with tempfile.TemporaryDirectory() as tmp:
        pareto = Path(tmp) / "pareto.png"
        write_pareto(results, pareto, f"{title}: SLO attainment vs energy")
        images = [("Pareto view: SLO attainment against energy per request", base64.b64encode(pareto.read_bytes()).decode())]
    images += [("Tier share over time", _share_plot(records[main], t_s, tiers, main)),
               ("Latency CDFs", _cdf_plot(records))]
    battery = _battery_plot(records[main], t_s, main)
    if battery is not None:
        images.append(("Satellite battery", battery))
    images.append(("Energy and carbon by tier", _tier_bars(records, tiers)))
    timeline = _timeline(prep)
    if timeline is not None:
        images.append(("Satellite timeline at the busiest site over the day (maas tiers timeline --plot)", timeline))
    body = "".join(f'<h2>{html.escape(h)}</h2><img alt="{html.escape(h)}" src="data:image/png;base64,{png}">'
                   for h, png in images)
    page = (f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{html.escape(title)}</title><style>"
            "body{font:14px system-ui,sans-serif;margin:2em;max-width:1200px}img{max-width:100%}"
            "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}"
            f"</style></head><body><h1>maas sim: {html.escape(title)}</h1>"
            f"<p>{len(t_s):,} requests over {prep.duration_s / 3600:.2f} h, scenario <code>{html.escape(prep.file)}"
            f"</code>, seed {prep.spec.seed}, tiers {', '.join(tiers)}; main policy {html.escape(main)}.</p>"
            f"{_table(results)}{body}</body></html>")
    directory = Path(directory)
    directory.mkdir(exist_ok=True)
    for name, text in (("results.json", json.dumps(results, indent=2)), ("index.html", page)):
        fd, tmp = tempfile.mkstemp(prefix=f".{name}-", dir=directory)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(text)
            os.chmod(tmp, 0o644)
            os.replace(tmp, directory / name)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    return directory / "index.html"


def report_dir_problem(directory: Path) -> str | None:
    """Why ``--report DIR`` cannot be written (None when it can): its parent must exist, and DIR, if it exists,
    may hold only a previous report (it is updated in place, never emptied)."""
    if not directory.parent.exists():
        return f"--report: directory {directory.parent} does not exist"
    if directory.exists():
        if not directory.is_dir():
            return f"--report: {directory} is a file (allowed: a new directory, or one holding a previous report)"
        other = sorted(p.name for p in directory.iterdir() if p.name not in REPORT_FILES)
        if other:
            return (f"--report: {directory} holds other files ({', '.join(other[:3])}) (allowed: a new directory, "
                    f"or one holding only {', '.join(REPORT_FILES)})")
    return None
