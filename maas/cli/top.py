"""``maas top``: the status page's figures in a terminal (rich Live), for operators on a remote shell.

It polls ``GET /ui/api/status`` of a running platform (``--url``, env ``MAAS_URL``, default the local ingress)
with an admin key (``--admin-key``, env ``MAAS_ADMIN_KEY``, else ``<data_dir>/admin.key`` when it exists; with
auth off none is needed). ``--once`` prints one frame and exits (scripts, tests). Exit codes: 0 ok, 1 the
platform refused or could not be reached, 2 bad input.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from maas.cli import remote
from maas.cli.common import EXIT_ERROR, EXIT_USAGE, fail
from maas.metering.bootstrap import ADMIN_KEY_FILE

__all__ = ["register", "top", "render_frame", "fetch_status"]

TIMEOUT_S = remote.TIMEOUT_S


def _num(value: Any, digits: int = 1, unit: str = "") -> str:
    return "-" if value is None else f"{value:.{digits}f}{unit}"


def _sig(value: Any, unit: str) -> str:
    return "-" if value is None else f"{value:.3g} {unit}"


def render_frame(doc: dict[str, Any]) -> Group:
    """One frame: totals, the tiers over the window, the satellite at the site, the deployments."""
    t = doc["totals"]
    window = "last 5 min" if doc["window_s"] >= 299 else f"last {doc['window_s']:.0f} s (since start)"
    head = Text.assemble(
        ("maas top", "bold"), f"  {doc['time']}  {doc['replicas']} gateway replica(s)  ",
        f"requests {t['requests']:,}  served {t['served']:,}  failed {t['failures']:,}  refused {t['refusals']:,}  ",
        f"energy {t['energy_j']:.3g} J  carbon {t['carbon_g']:.3g} g")
    tiers = Table(title=f"tiers at {doc['site']} ({window})", title_justify="left", expand=False)
    for name in ("tier", "state", "share %", "req", "p50 ms", "p99 ms", "J/req", "gCO2/req", "queue", "in flight"):
        tiers.add_column(name, justify="left" if name in ("tier", "state") else "right")
    for x in doc["tiers"]:
        state = Text("up", style="green") if x["available"] else Text(f"down: {x['reason']}", style="red")
        tiers.add_row(x["tier"], state, _num(100 * x["share"]), f"{x['requests']:,}", _num(x["p50_ms"]),
                      _num(x["p99_ms"]), _sig(x["energy_j_per_request"], "J"), _sig(x["carbon_g_per_request"], "g"),
                      f"{x['queue_depth']:.0f}", f"{x['in_flight']:.0f}")
    parts: list[Any] = [head, tiers]
    sat = doc.get("satellite") or {}
    now = sat.get("now")
    if now and now.get("in_contact"):
        parts.append(Text(f"satellite: {now['satellite']} serves until {now['window_end']}, battery "
                          f"{100 * now['soc_ratio']:.1f} % ({now['soc_j']:,.0f} J, reserve {now['reserve_j']:,.0f} J)"))
    elif now:
        parts.append(Text(f"satellite: no contact until {now.get('next_contact') or 'tomorrow'}", style="yellow"))
    outlook = sat.get("outlook")
    if outlook:
        nxt = [w for w in outlook["windows"] if w["start_s"] > doc["time_s"]][:3]
        ecl = [e for e in outlook["eclipses"] if e["end_s"] > doc["time_s"]][:2]
        parts.append(Text("  next windows: " + ", ".join(f"{w['satellite']} {w['start'][11:19]}" for w in nxt)
                          + ("   eclipses: " + ", ".join(f"{e['satellite']} {e['start'][11:16]}-{e['end'][11:16]}"
                                                         for e in ecl) if ecl else "")))
    deployments = Table(title="deployments", title_justify="left")
    for name in ("model", "version", "tiers ready"):
        deployments.add_column(name)
    for d in doc["deployments"]:
        deployments.add_row(d["name"], str(d["version"]), ", ".join(d["tiers"]) or "none")
    parts.append(deployments)
    rollouts = [r for r in doc.get("rollouts", []) if r.get("canary") or r.get("uplinks")]
    if rollouts:  # only what is moving: a canary or an uplink (a model on its stable version is in the table above)
        table = Table(title="rollouts in progress", title_justify="left")
        for name in ("model", "stable", "canary", "uplinks"):
            table.add_column(name)
        for r in rollouts:
            canary = r.get("canary")
            table.add_row(r["model"], _track(r.get("stable")),
                          f"{_track(canary)} · {r['percent']} %" if canary and r.get("percent") else _track(canary),
                          "; ".join(f"v{u['version']} {u['tier']} {u['state']} {u['bytes_sent']:,}/{u['bytes_total']:,} B"
                                    for u in r.get("uplinks", [])) or "-")
        parts.append(table)
    return Group(*parts)


def _track(track: dict | None) -> str:
    if not track:
        return "-"
    ready = "" if len(track["ready"]) == len(track["tiers"]) else f" ({len(track['ready'])}/{len(track['tiers'])} ready)"
    return f"v{track['version']} on {', '.join(track['tiers'])}{ready}"


def fetch_status(url: str, key: str | None, site: str | None) -> dict[str, Any]:
    """The status document, or exit 1 with the platform's error."""
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    params = {"site": site} if site else {}
    try:
        with remote.open_client(url, TIMEOUT_S) as http:
            response = http.get("/ui/api/status", headers=headers, params=params)
    except httpx.HTTPError as exc:
        raise fail(f"cannot reach {url}: {type(exc).__name__}: {exc}", EXIT_ERROR) from None
    try:
        doc = response.json()
    except ValueError:
        raise fail(f"{url}: HTTP {response.status_code}, not JSON", EXIT_ERROR) from None
    if response.status_code >= 400:
        raise fail(f"{url}: HTTP {response.status_code}: {doc.get('error')}", EXIT_ERROR)
    if doc.get("need_key"):
        raise fail("the platform needs an admin key (allowed: --admin-key, MAAS_ADMIN_KEY, <data dir>/admin.key)",
                   EXIT_USAGE)
    if doc.get("role") == "tenant":
        raise fail(f"a tenant key ({doc.get('tenant')}) sees only its own usage: use `maas usage`; top needs an "
                   "admin key", EXIT_USAGE)
    return doc


def top(
    url: remote.UrlOpt = None,
    admin_key: remote.AdminKeyOpt = None,
    data_dir: Annotated[Path | None, typer.Option("--data-dir", help="state directory (default .maas)")] = None,
    config: Annotated[Path | None, typer.Option("--config", help="settings YAML file")] = None,
    site: Annotated[str | None, typer.Option("--site", help="site for the satellite view (default: the topology's)")] = None,
    interval_s: Annotated[float, typer.Option("--interval-s", help="seconds between refreshes")] = 2.0,
    once: Annotated[bool, typer.Option("--once", help="print one frame and exit")] = False,
) -> None:
    """Live terminal view of the platform: tiers, last-5-minute figures, satellite, deployments."""
    from maas.settings import load_settings

    if not 0.2 <= interval_s <= 3600:
        raise fail(f"--interval-s: {interval_s} is out of range (allowed: 0.2 .. 3600)", EXIT_USAGE)
    settings = load_settings(config, **({"data_dir": data_dir} if data_dir is not None else {}))
    url = (url or f"http://{settings.host}:{settings.port}").rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise fail(f"--url: {url!r} is not an HTTP URL (allowed: http://host:port or https://...)", EXIT_USAGE)
    if admin_key is None:
        path = Path(settings.data_dir) / ADMIN_KEY_FILE
        admin_key = path.read_text(encoding="ascii").strip() if path.exists() else None
    console = Console()
    if once:
        console.print(render_frame(fetch_status(url, admin_key, site)))
        return
    with Live(render_frame(fetch_status(url, admin_key, site)), console=console, auto_refresh=False) as live:
        try:
            while True:
                time.sleep(interval_s)  # the operator's refresh period (an interactive loop, not a wait on a state)
                live.update(render_frame(fetch_status(url, admin_key, site)), refresh=True)
        except KeyboardInterrupt:
            pass


def register(app: typer.Typer) -> None:
    app.command("top")(top)
