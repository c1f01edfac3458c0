"""Terminal rendering (rich) of run summaries, comparisons and the self-test; rich honours ``NO_COLOR``."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

__all__ = ["fmt", "render_run", "render_compare", "render_selftest"]


def fmt(v: Any) -> str:
    """A number for a table cell: 4 significant digits, ``-`` for missing."""
    if v is None:
        return "-"
    return f"{v:.4g}" if isinstance(v, float) else str(v)


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
    pct = Table(title="milliseconds")
    pct.add_column("")
    keys = ("p50", "p90", "p99", "p999", "max")
    for k in keys:
        pct.add_column(k, justify="right")
    label = "latency (from intended send)" if mode == "open-loop" else "latency (from actual send)"
    for name, key in ((label, "latency_ms"), ("service time", "service_ms"), ("dispatch lateness", "lateness_ms")):
        pct.add_row(name, *[fmt(summary[key][k]) for k in keys])
    console.print(pct)
    if summary["slo_attainment"] is not None:
        console.print(f"SLO attainment (deadline from intended send): {summary['slo_attainment']:.4f}")
    for title, groups in (("per tier", summary["per_tier"]), ("per model", summary["per_model"])):
        if not groups:
            continue
        t = Table(title=title)
        for col in ("", "requests", "share", "errors", "p50 ms", "p99 ms", "SLO", "J/request"):
            t.add_column(col, justify="right" if col else "left")
        for name, g in groups.items():
            t.add_row(
                name,
                str(g["requests"]),
                fmt(g["share"]),
                str(g["errors"]),
                fmt(g["latency_ms"]["p50"]),
                fmt(g["latency_ms"]["p99"]),
                fmt(g["slo_attainment"]),
                fmt(g["energy_j_per_request"]),
            )
        console.print(t)
    checks = Table(title="validity and thresholds")
    for col in ("check", "result", "value", "bound"):
        checks.add_column(col)
    for c in summary["checks"] + summary["thresholds"]:
        checks.add_row(c["name"], "[green]pass[/]" if c["ok"] else "[red]FAIL[/]", fmt(c["value"]), c["bound"])
    console.print(checks)
    for sample in summary["error_samples"][:3]:
        console.print(f"[red]error sample:[/] {sample}")


def render_compare(cmp: dict[str, Any], console: Console | None = None) -> None:
    """The B - A table with intervals, then warnings."""
    console = console or Console()
    t = Table(title=f"B - A ({cmp['confidence']:.0%} intervals)")
    for col in ("metric", "A", "B", "B - A", "interval", "significant", "method"):
        t.add_column(col, justify="left" if col in ("metric", "method") else "right")
    for r in cmp["rows"]:
        ci = f"[{fmt(r['ci_low'])}, {fmt(r['ci_high'])}]" if r["ci_low"] is not None else "-"
        t.add_row(
            r["metric"], fmt(r["a"]), fmt(r["b"]), fmt(r["diff"]), ci, "yes" if r["significant"] else "no", r["method"]
        )
    console.print(t)
    for w in cmp["warnings"]:
        console.print(f"[yellow]warning:[/] {w}")


def render_selftest(res: dict[str, Any], console: Console | None = None) -> None:
    """Corrected vs uncorrected percentiles and the verdict line."""
    console = console or Console()
    t = Table(title=f"one {res['stall_ms']:.0f} ms stall, {res['rate_rps']:g} req/s for {res['duration_s']:g} s (ms)")
    t.add_column("measurement")
    keys = ("p50", "p90", "p99", "p999", "max")
    for k in keys:
        t.add_column(k, justify="right")
    for name, key in (
        ("open loop, from intended send (corrected)", "corrected_ms"),
        ("closed loop, from actual send (uncorrected)", "uncorrected_ms"),
        ("closed loop + HdrHistogram post-correction", "post_corrected_ms"),
    ):
        t.add_row(name, *[fmt(res[key][k]) for k in keys])
    console.print(t)
    console.print(("[green]PASS[/] " if res["passed"] else "[red]FAIL[/] ") + res["explanation"])
