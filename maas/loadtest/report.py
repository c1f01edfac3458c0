"""Reports on disk: ``result.json``, the HDR histograms as ``.hgrm`` text, and a self-contained ``report.html``
(PNG plots embedded as base64, no external assets). Every file is written to a temp file and renamed."""

from __future__ import annotations

import base64
import html
import io
import os
import tempfile
from pathlib import Path
from typing import Any

from maas.loadtest import histograms as H
from maas.loadtest.plots import all_plots
from maas.loadtest.result import write_json_atomic

__all__ = ["write_report", "render_html"]

_CSS = """body{font-family:system-ui,sans-serif;margin:2em;max-width:1000px;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}.ok{color:#17752b}.bad{color:#b00020}
.banner{padding:.6em 1em;border-radius:4px;font-weight:bold}.VALID{background:#e3f5e6}.INVALID{background:#fbe3e6}
img{max-width:100%}code{background:#f5f5f5;padding:0 3px}"""


def _write_text_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.chmod(tmp, 0o644)
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4g}"
    return html.escape(str(v))


def _pct_table(rows: dict[str, dict[str, Any]]) -> str:
    keys = ["p50", "p90", "p99", "p999", "max", "mean"]
    head = "".join(f"<th>{k}</th>" for k in keys)
    body = "".join(
        f"<tr><td>{html.escape(n)}</td>" + "".join(f"<td>{_fmt(r.get(k))}</td>" for k in keys) + "</tr>"
        for n, r in rows.items()
    )
    return f"<table><tr><th>ms</th>{head}</tr>{body}</table>"


def _group_table(title: str, groups: dict[str, dict[str, Any]]) -> str:
    if not groups:
        return ""
    cols = [
        "requests",
        "share",
        "errors",
        "slo_attainment",
        "platform_deadline_met",
        "energy_j_per_request",
        "carbon_g_per_request",
    ]
    head = "".join(f"<th>{c}</th>" for c in cols) + "<th>p50 ms</th><th>p99 ms</th>"
    body = ""
    for name, g in groups.items():
        cells = "".join(f"<td>{_fmt(g.get(c))}</td>" for c in cols)
        lat = g["latency_ms"]
        body += f"<tr><td>{html.escape(name)}</td>{cells}<td>{_fmt(lat['p50'])}</td><td>{_fmt(lat['p99'])}</td></tr>"
    return f"<h2>{title}</h2><table><tr><th></th>{head}</tr>{body}</table>"


def _checks_table(title: str, checks: list[dict[str, Any]]) -> str:
    if not checks:
        return ""
    body = "".join(
        f"<tr><td>{html.escape(c['name'])}</td><td class='{'ok' if c['ok'] else 'bad'}'>"
        f"{'pass' if c['ok'] else 'FAIL'}</td><td>{_fmt(c['value'])}</td><td>{html.escape(c['bound'])}</td>"
        f"<td>{html.escape(c.get('detail') or '')}</td></tr>"
        for c in checks
    )
    return (
        f"<h2>{title}</h2><table><tr><th>check</th><th>result</th><th>value</th><th>bound</th>"
        f"<th>detail</th></tr>{body}</table>"
    )


def render_html(result: dict[str, Any], plots: dict[str, bytes]) -> str:
    """The report page as one string."""
    s = result["summary"]
    cfg = result["config"]
    mode = s["mode"]
    title = f"maas load test: {html.escape(cfg.get('url', ''))}"
    partial = " (PARTIAL: interrupted)" if result["partial"] else ""
    overview = {
        "mode": mode + ("" if mode == "open-loop" else " (latency from actual send; not CO-corrected)"),
        "target rps": s["target_rps"],
        "scheduled rps": s["scheduled_rps"],
        "achieved rps": s["achieved_rps"],
        "throughput rps (ok)": s["throughput_rps"],
        "requests": s["requests"],
        "errors": s["errors"],
        "timeouts": s["timeouts"],
        "error rate": s["error_rate"],
        "SLO attainment": s["slo_attainment"],
        "energy J / request": s["energy_j_per_request"],
        "energy J / success": s["energy_j_per_success"],
        "measured s": s["measured_s"],
        "warm-up s (excluded)": s["warmup_s"],
        "seed": result["seeds"]["schedule"],
        "started": result["started_at"],
    }
    rows = "".join(f"<tr><td>{html.escape(k)}</td><td>{_fmt(v)}</td></tr>" for k, v in overview.items())
    imgs = "".join(
        f"<h3>{html.escape(name.replace('_', ' '))}</h3><img alt='{name}' "
        f"src='data:image/png;base64,{base64.b64encode(png).decode()}'>"
        for name, png in plots.items()
    )
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in result.get("notes", []))
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>{title}</title><style>{_CSS}</style></head>
<body><h1>{title}</h1><p class="banner {s["verdict"]}">{s["verdict"]}{partial}</p>
<table>{rows}</table>
<h2>Latency, service time and dispatch lateness</h2>
{
        _pct_table(
            {
                "latency (from intended send)": s["latency_ms"],
                "service (from actual send)": s["service_ms"],
                "dispatch lateness": s["lateness_ms"],
            }
        )
    }
{_checks_table("Validity", s["checks"])}{_checks_table("Thresholds", s["thresholds"])}
{_group_table("Per tier", result["per_tier"])}{_group_table("Per model", result["per_model"])}
<h2>Plots</h2>{imgs}<h2>Notes</h2><ul>{notes or "<li>none</li>"}</ul>
<p>Generated by <code>maas loadtest</code>; HDR histograms in result.json (schema {result["schema_version"]}).</p>
</body></html>"""


def _hgrm(encoded: str) -> str:
    buf = io.BytesIO()
    H.decode(encoded).output_percentile_distribution(buf, 1000.0)
    return buf.getvalue().decode("ascii")


def write_report(result: dict[str, Any], directory: str | Path) -> dict[str, Path]:
    """Write result.json, latency.hgrm and report.html into ``directory``; return their paths."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    paths = {"json": d / "result.json", "hgrm": d / "latency.hgrm", "html": d / "report.html"}
    write_json_atomic(paths["json"], result)
    _write_text_atomic(paths["hgrm"], _hgrm(result["hdr"]["latency"]))
    _write_text_atomic(paths["html"], render_html(result, all_plots(result)))
    return paths
