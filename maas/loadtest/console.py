"""Terminal rendering of run summaries, comparisons, find-peak and the self-test, tables through ``maas.tables``.

Tables fit the width (rich on a terminal, plain aligned text otherwise); rich honours ``NO_COLOR``.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console

from maas.tables import Col, View, attainment, num, pct, render, text

__all__ = [
    "compare_view", "fmt", "render_capacity", "render_compare", "render_peak", "render_run", "render_selftest",
    "views_of_run",
]


def fmt(v: Any) -> str:
    """A number for a line of text: 3 significant figures (``maas.tables.num``), ``-`` for missing."""
    return num(v)


def _show(view: View, console: Console) -> None:
    render(view, "table", file=console.file, terminal=console.is_terminal)


_PCTS = ("p50", "p90", "p99", "p999", "max")


def _percentile_cols(first: str) -> list[Col]:
    return [Col(first, "name", fmt=text, left=True)] + [
        Col(k, lambda r, k=k: r["ms"][k], unit="ms", priority=0 if k in ("p50", "p99") else 1) for k in _PCTS]


def views_of_run(summary: dict[str, Any]) -> list[View]:
    """The run summary's tables: percentiles, per tier, per model, checks."""
    mode = summary["mode"]
    label = "latency (from intended send)" if mode == "open-loop" else "latency (from actual send)"
    rows = [{"name": n, "ms": summary[k]} for n, k in
            ((label, "latency_ms"), ("service time", "service_ms"), ("dispatch lateness", "lateness_ms"))]
    views = [View("milliseconds", _percentile_cols(""), rows)]
    for title, groups in (("per tier", summary["per_tier"]), ("per model", summary["per_model"])):
        if groups:
            views.append(View(title, [
                Col(title.split()[1], "name", fmt=text, left=True),
                Col("requests"),
                Col("share", unit="%", fmt=pct),
                Col("errors", priority=1),
                Col("p50", lambda g: g["latency_ms"]["p50"], unit="ms", priority=2),
                Col("p99", lambda g: g["latency_ms"]["p99"], unit="ms"),
                Col("SLO", "slo_attainment", unit="%", fmt=attainment),
                Col("energy", "energy_j_per_request", unit="J/req", priority=1),
            ], [{"name": n, **g} for n, g in groups.items()]))
    views.append(View("validity and thresholds", [
        Col("check", "name", fmt=text, left=True),
        Col("result", "ok", fmt=lambda ok: "pass" if ok else "FAIL", left=True),
        Col("value"),
        Col("bound", fmt=text, left=True, wrap=True),
    ], summary["checks"] + summary["thresholds"]))
    return views


def render_run(summary: dict[str, Any], console: Console | None = None) -> None:
    """The run summary: verdict line, percentiles, per tier, per model, checks."""
    console = console or Console()
    mode = summary["mode"]
    color = "green" if summary["verdict"] == "VALID" else "red"
    part = " [yellow](PARTIAL)[/]" if summary["partial"] else ""
    console.print(
        f"[bold {color}]{summary['verdict']}[/]{part}  {mode}: target {summary['target_rps']} rps, "
        f"achieved {summary['achieved_rps']:.2f} rps, {summary['requests']} requests, "
        f"{summary['errors']} errors"
    )
    views = views_of_run(summary)
    _show(views[0], console)
    if summary["slo_attainment"] is not None:
        console.print(f"SLO attainment (deadline from intended send): {summary['slo_attainment']:.4f}")
    for view in views[1:]:
        _show(view, console)
    for sample in summary["error_samples"][:3]:
        console.print(f"[red]error sample:[/] {sample}")


def compare_view(cmp: dict[str, Any]) -> View:
    """B - A per metric with its interval."""
    return View(f"B - A ({cmp['confidence']:.0%} intervals)", [
        Col("metric", fmt=text, left=True),
        Col("A", "a"),
        Col("B", "b"),
        Col("B - A", "diff"),
        Col("interval", lambda r: None if r["ci_low"] is None else f"[{fmt(r['ci_low'])}, {fmt(r['ci_high'])}]",
            fmt=text),
        Col("significant", fmt=lambda v: "yes" if v else "no", priority=1),
        Col("method", fmt=text, left=True, priority=2),
    ], cmp["rows"])


def render_compare(cmp: dict[str, Any], console: Console | None = None) -> None:
    """The B - A table with intervals, then warnings."""
    console = console or Console()
    _show(compare_view(cmp), console)
    for w in cmp["warnings"]:
        console.print(f"[yellow]warning:[/] {w}")


def render_peak(doc: dict[str, Any], console: Console | None = None) -> None:
    """find-peak's trials (rate, pass, achieved, p99, SLO) and the peak line."""
    console = console or Console()
    _show(View("find-peak trials", [
        Col("rate", "rate_rps", unit="req/s"),
        Col("result", "passed", fmt=lambda ok: "pass" if ok else "FAIL", left=True),
        Col("verdict", fmt=text, left=True, priority=1),
        Col("achieved", "achieved_rps", unit="req/s"),
        Col("p99", "p99_ms", unit="ms"),
        Col("SLO", "slo_attainment", unit="%", fmt=attainment),
    ], doc["trials"]), console)
    console.print(f"peak: {fmt(doc['peak_rps'])} rps meets {', '.join(doc['slo'])} (limited by {doc['limited_by']}; "
                  f"lowest failing: {fmt(doc['lowest_failing_rps'])} rps)", highlight=False)


def render_capacity(doc: dict[str, Any], console: Console | None = None) -> None:
    """find-peak's capacity trials (rate, runs, goodput, attainment, efficiency against the floor, p99, refusals)
    and the knee line with the floor beside it."""
    console = console or Console()
    _show(View("find-peak trials (knee of goodput)", [
        Col("rate", "rate_rps", unit="req/s"),
        Col("result", lambda t: ("keeps up" if t["keeps_up"] else "behind") + ("?" if t["ambiguous"] else ""),
            fmt=text, left=True),
        Col("runs", priority=1),
        Col("goodput", "goodput_rps", unit="req/s"),
        Col("SLO", "attainment", unit="%", fmt=attainment),
        Col("efficiency", priority=1),
        Col("p99", "p99_ms", unit="ms"),
        Col("refused", priority=1),
        Col("timeouts", priority=1),
    ], doc["trials"]), console)
    console.print(
        f"capacity (knee): {fmt(doc['knee_rps'])} req/s, where attainment stays >= {doc['knee']:g} x the floor "
        f"(limited by {doc['limited_by']}; lowest behind: {fmt(doc['lowest_failing_rps'])} req/s); "
        f"highest goodput {fmt(doc['max_goodput_rps'])} req/s at {fmt(doc['max_goodput_at_rps'])} req/s offered; "
        f"floor: attainment {fmt(doc['floor_attainment'])} +/- {fmt(doc['floor_se'])} at {fmt(doc['floor_rps'])} "
        "req/s (misses load does not cause)", highlight=False)
    console.print("? = decided within the trials' noise after the repeats", highlight=False)


def render_selftest(res: dict[str, Any], console: Console | None = None) -> None:
    """Corrected vs uncorrected percentiles and the verdict line."""
    console = console or Console()
    rows = [{"name": n, "ms": res[k]} for n, k in (
        ("open loop, from intended send (corrected)", "corrected_ms"),
        ("closed loop, from actual send (uncorrected)", "uncorrected_ms"),
        ("closed loop + HdrHistogram post-correction", "post_corrected_ms"),
    )]
    _show(View(f"one {res['stall_ms']:.0f} ms stall, {res['rate_rps']:g} req/s for {res['duration_s']:g} s",
               _percentile_cols("measurement"), rows), console)
    console.print(("[green]PASS[/] " if res["passed"] else "[red]FAIL[/] ") + res["explanation"])
