"""``maas tiers fail TIER [--site S] --for 60s``, ``maas tiers restore TIER``, ``maas tiers faults``: rehearse faults on
the live platform in the simulator's fault model (``maas.placement.Fault``: an outage, or a link degradation by
``--factor``, at some sites or everywhere, for a wall-clock window).

Locally (default) the fault is written to the platform database (``tier_faults``), which every gateway replica
reads at least every second (``maas.api.admin_faults``); with ``--url`` (env ``MAAS_URL``) the admin API does it.
Mounted on ``maas tiers`` by ``register(app)``. Exit codes: 0 ok, 1 the server or database refused, 2 bad input.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Any

import typer

from maas.cli.common import EXIT_ERROR, EXIT_USAGE, fail
from maas.cli.remote import AdminKeyOpt, UrlOpt, admin_client

__all__ = ["register", "parse_duration_s", "active_faults_local", "fault_lines"]

_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0}
ConfigOpt = Annotated[Path | None, typer.Option("--config", help="settings file (data dir, database URL)")]


def parse_duration_s(text: str) -> float:
    """``60s``, ``5m``, ``1.5h``, ``1d`` or plain seconds; exit 2 otherwise."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*", text.lower())
    if not m or m.group(2) not in _UNITS or float(m.group(1)) <= 0:
        raise fail(f"--for: {text!r} is not a duration (allowed: e.g. 90, 60s, 5m, 1h, 1d; > 0)", EXIT_USAGE)
    return float(m.group(1)) * _UNITS[m.group(2)]


def _settings(config: Path | None) -> Any:
    from maas.cli.common import settings_from

    return settings_from(config)


def _engine(settings: Any) -> Any:
    from maas.store import make_engine, migrate

    engine = make_engine(settings.effective_database_url())
    migrate(engine)
    return engine


def _when(t_s: float) -> str:
    return datetime.fromtimestamp(t_s, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def fault_lines(faults: list[dict[str, Any]], now_s: float) -> list[str]:
    """One line per active fault, for ``maas tiers faults`` and ``maas status``."""
    out = []
    for f in faults:
        where = ", ".join(f["sites"]) if f["sites"] else "every site"
        what = "outage" if f["kind"] == "outage" else f"links x{f['factor']:g} slower"
        starts = f" from {_when(f['start_s'])}" if f["start_s"] > now_s else ""
        out.append(f"fault {f['id']}: {f['tier']} {what} at {where}{starts} until {_when(f['end_s'])} "
                   f"({max(0.0, f['end_s'] - now_s):.0f} s left){' - ' + f['note'] if f.get('note') else ''}")
    return out


def active_faults_local(settings: Any, now_s: float) -> list[dict[str, Any]]:
    """The active faults in the platform database, as the admin API returns them."""
    from maas.store import session_scope
    from maas.store.fault_table import active_faults

    with session_scope(_engine(settings), write=False) as session:
        return [r.to_dict() for r in active_faults(session, now_s)]


def _local_fail(settings: Any, tier: str, sites: list[str] | None, for_s: float, kind: str, factor: float,
                note: str | None, now_s: float) -> dict[str, Any]:
    from maas.store import session_scope
    from maas.store.fault_table import add_fault
    from maas.tiers import load_topology

    topology = load_topology(settings.topology_path)
    if tier not in topology.tier_names:
        raise fail(f"TIER: {tier!r} is not a tier (allowed: {', '.join(topology.tier_names)})", EXIT_USAGE)
    known = set(topology.site_names)
    for site in sites or []:
        if site not in known:
            raise fail(f"--site: {site!r} is not a site of the topology", EXIT_USAGE)
    with session_scope(_engine(settings)) as session:
        return add_fault(session, kind=kind, tier=tier, sites=sites, factor=factor, start_s=now_s,
                         end_s=now_s + for_s, now_s=now_s, note=note).to_dict()


def fail_cmd(
    tier: Annotated[str, typer.Argument(help="the tier to fail")],
    for_: Annotated[str, typer.Option("--for", help="how long: 90, 60s, 5m, 1h")] = "60s",
    site: Annotated[list[str] | None, typer.Option("--site", help="only at this site (repeatable)")] = None,
    kind: Annotated[str, typer.Option("--kind", help="outage or link_degradation")] = "outage",
    factor: Annotated[float, typer.Option("--factor", help="link_degradation: links this many times slower")] = 2.0,
    note: Annotated[str | None, typer.Option("--note")] = None,
    output: Annotated[str, typer.Option("-o", "--output", help="text or json")] = "text",
    url: UrlOpt = None,
    admin_key: AdminKeyOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Fail TIER now for a while (the simulator's fault model); every gateway stops choosing it within 1 s."""
    import time

    if kind not in ("outage", "link_degradation"):
        raise fail(f"--kind: {kind!r} (allowed: outage, link_degradation)", EXIT_USAGE)
    if output not in ("text", "json"):
        raise fail(f"-o: {output!r} (allowed: text, json)", EXIT_USAGE)
    for_s = parse_duration_s(for_)
    fac = 1.0 if kind == "outage" else factor
    settings = _settings(config)
    now_s = time.time()
    if url:
        body = {"tier": tier, "for_s": for_s, "kind": kind, "factor": fac, "sites": site or None, "note": note}
        doc = admin_client(url, admin_key, settings.data_dir).call("POST", "/admin/faults", json=body)
    else:
        doc = _local_fail(settings, tier, site or None, for_s, kind, fac, note, now_s)
    if output == "json":
        typer.echo(json.dumps(doc))
    else:
        typer.echo("\n".join(fault_lines([doc], now_s)) + "; gateways apply it within 1 s")


def restore_cmd(
    tier: Annotated[str, typer.Argument(help="the tier to restore")],
    output: Annotated[str, typer.Option("-o", "--output", help="text or json")] = "text",
    url: UrlOpt = None,
    admin_key: AdminKeyOpt = None,
    config: ConfigOpt = None,
) -> None:
    """End every active fault of TIER now."""
    import time

    settings = _settings(config)
    now_s = time.time()
    if url:
        cleared = admin_client(url, admin_key, settings.data_dir).call("POST", f"/admin/faults/{tier}/restore")
        cleared = cleared["cleared"]
    else:
        from maas.store import session_scope
        from maas.store.fault_table import clear_faults
        from maas.tiers import load_topology

        names = load_topology(settings.topology_path).tier_names
        if tier not in names:
            raise fail(f"TIER: {tier!r} is not a tier (allowed: {', '.join(names)})", EXIT_USAGE)
        try:
            with session_scope(_engine(settings)) as session:
                cleared = [r.to_dict() for r in clear_faults(session, tier, now_s)]
        except Exception as exc:  # noqa: BLE001 - a store error is a refusal, not a traceback
            raise fail(f"cannot restore {tier}: {exc}", EXIT_ERROR) from None
    if output == "json":
        typer.echo(json.dumps({"cleared": cleared}))
    else:
        typer.echo(f"{tier}: {len(cleared)} fault(s) ended now" if cleared else f"{tier}: no active fault")


def faults_cmd(
    output: Annotated[str, typer.Option("-o", "--output", help="text or json")] = "text",
    url: UrlOpt = None,
    admin_key: AdminKeyOpt = None,
    config: ConfigOpt = None,
) -> None:
    """The active rehearsed faults."""
    import time

    settings = _settings(config)
    now_s = time.time()
    if url:
        faults = admin_client(url, admin_key, settings.data_dir).call("GET", "/admin/faults")["faults"]
    else:
        faults = active_faults_local(settings, now_s)
    if output == "json":
        typer.echo(json.dumps({"faults": faults}))
    else:
        typer.echo("\n".join(fault_lines(faults, now_s)) or "no active fault")


def register(app: typer.Typer) -> None:
    """Mount ``fail``, ``restore`` and ``faults`` on ``maas tiers``."""
    app.command("fail")(fail_cmd)
    app.command("restore")(restore_cmd)
    app.command("faults")(faults_cmd)
