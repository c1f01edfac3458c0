"""``maas usage``: metered usage from the local database (``--data-dir``/``--database-url``/``--config``), or with
``--url`` (env ``MAAS_URL``) from a running platform's ``GET /admin/usage`` (``--admin-key``, env ``MAAS_ADMIN_KEY``,
default ``<data dir>/admin.key``; see ``maas.cli.remote``).

Mount with ``usage.register(app)``. Output ``-o table|wide|json|csv`` (tables through ``maas.tables``: the columns
that fit the width, ``wide`` all; CSV: the grouped rows, no total line), the same either way. Exit codes: 0 ok, 1 store unavailable or refused by the server, 2 bad input (the message names the
field and the allowed values).
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from maas.cli.common import EXIT_USAGE, errors_to_exit, fail, settings_from
from maas.cli.remote import AdminKeyOpt, UrlOpt, admin_client, remote_usage
from maas.tables import Col, View, render, scaled, text

__all__ = ["register", "usage_command", "usage_view"]

FORMATS = ("table", "wide", "json", "csv")
FIGURES = ("requests", "ok", "refused", "failed", "energy_j", "carbon_g", "latency_mean_ms", "latency_p99_ms")
TIME_FORMATS = "YYYY-MM-DD, YYYY-MM-DDTHH:MM[:SS] (UTC unless an offset is given), or seconds since the epoch"


def _time(value: str | None, field: str) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise fail(f"{field}: {value!r} is not a time (allowed: {TIME_FORMATS})", EXIT_USAGE) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.timezone.utc)
    return parsed.timestamp()


def _groups(value: str) -> list[str]:
    from maas.metering.usage import GROUPS

    if value.strip().lower() in ("", "none"):
        return []
    groups = [g.strip() for g in value.split(",")]
    for g in groups:
        if g not in GROUPS:
            raise fail(f"--group-by: unknown group {g!r} (allowed: {', '.join(GROUPS)}, or none)", EXIT_USAGE)
    if len(set(groups)) != len(groups):
        raise fail(f"--group-by: {value!r} names a group twice (allowed: {', '.join(GROUPS)}, or none)", EXIT_USAGE)
    return groups


def usage_view(groups: list[str], report: dict[str, Any]) -> View:
    """The grouped rows and a total row: the groups and requests always, then ok/refused/failed, energy, carbon,
    latency as the width allows (``-o wide``: all, with deadlines met and bytes)."""
    labels = groups or ["usage"]  # no groups: the total alone, labelled
    cols = [Col(g, g, fmt=text, left=True) for g in labels]
    cols += [
        Col("requests", "requests"),
        Col("ok", "ok", priority=1),
        Col("refused", "refused", priority=2),
        Col("failed", "failed", priority=2),
        Col("energy", "energy_j", unit="J", priority=1),
        Col("carbon", "carbon_g", unit="mg CO2", fmt=scaled(1e3), priority=2),
        Col("latency", "latency_mean_ms", unit="mean ms", priority=3),
        Col("latency", "latency_p99_ms", unit="p99 ms", priority=3),
        Col("deadline met", "deadline_met", priority=9),
        Col("bytes", lambda r: f"{r.get('bytes_in', '-')}/{r.get('bytes_out', '-')}", unit="in/out", fmt=text,
            priority=9),
    ]
    total = {**report["total"], **{g: "" for g in labels}, labels[0]: "total"}
    rows = report["rows"] if groups else []
    return View(None, cols, [*rows, total])


def usage_command(
    tenant: Annotated[str | None, typer.Option("--tenant", help="only this tenant (deleted tenants included)")] = None,
    since: Annotated[str | None, typer.Option("--since", help=f"from (inclusive): {TIME_FORMATS}")] = None,
    until: Annotated[str | None, typer.Option("--until", help="to (exclusive), same forms as --since")] = None,
    group_by: Annotated[
        str,
        typer.Option(
            "--group-by", help="comma-separated: day, month, tenant, key, model, version, tier, site, status; or none"
        ),
    ] = "day,model,tier",
    output: Annotated[str, typer.Option("-o", "--output", help="table (fitted to the width), wide, json or csv")] = "table",
    url: UrlOpt = None,
    admin_key: AdminKeyOpt = None,
    config: Annotated[Path | None, typer.Option("--config", help="settings YAML file")] = None,
    data_dir: Annotated[Path | None, typer.Option("--data-dir", help="state directory")] = None,
    database_url: Annotated[
        str | None, typer.Option("--database-url", help="SQLAlchemy URL (default SQLite in data dir)")
    ] = None,
) -> None:
    """Metered usage: requests, ok, refused, failed, joules, grams CO2e and latency, grouped as asked."""
    if output not in FORMATS:
        raise fail(f"-o/--output: unknown format {output!r} (allowed: {', '.join(FORMATS)})", EXIT_USAGE)
    since_s, until_s = _time(since, "--since"), _time(until, "--until")
    if since_s is not None and until_s is not None and until_s <= since_s:
        raise fail(f"--until: {until!r} is not after --since {since!r} (allowed: a later time)", EXIT_USAGE)
    groups = _groups(group_by)
    if url:
        if database_url is not None:
            raise fail(
                "--database-url: not with --url (allowed: one of them: the local database or a platform)", EXIT_USAGE
            )
        client = admin_client(url, admin_key, settings_from(config, data_dir=data_dir).data_dir)
        report = remote_usage(client, tenant, since_s, until_s, groups)
    else:
        report = _local_report(config, data_dir, database_url, tenant, since_s, until_s, groups)
    if output == "json":
        print(json.dumps({"group_by": groups, **report}, indent=2))
    elif output == "csv":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        headers = [*groups, *report["total"].keys()]
        writer.writerow(headers)
        for row in report["rows"]:
            writer.writerow(["" if row.get(h) is None else row.get(h) for h in headers])
    else:
        render(usage_view(groups, report), output)


def _local_report(
    config: Path | None,
    data_dir: Path | None,
    database_url: str | None,
    tenant: str | None,
    since_s: float | None,
    until_s: float | None,
    groups: list[str],
) -> dict[str, Any]:
    settings = settings_from(config, data_dir=data_dir, database_url=database_url)
    from maas.metering.usage import usage_report
    from maas.store import make_engine, migrate

    with errors_to_exit():
        try:
            engine = make_engine(settings.effective_database_url(), busy_timeout_ms=settings.store_busy_timeout_ms)
        except ValueError as exc:
            raise fail(f"database_url: {exc}", EXIT_USAGE) from None
        try:
            migrate(engine)
            return usage_report(engine, tenant=tenant, since=since_s, until=until_s, group_by=groups)
        finally:
            engine.dispose()


def register(app: typer.Typer) -> None:
    """Add ``maas usage`` to the top-level app."""
    app.command("usage")(usage_command)
