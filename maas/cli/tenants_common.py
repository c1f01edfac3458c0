"""What ``maas tenants`` and ``maas keys`` share: options, the store they act on (the local database, or the admin
API with ``--url``), and the output (table or JSON), the same either way."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy import Engine

from maas.cli.common import EXIT_USAGE, errors_to_exit, fail, settings_from
from maas.cli.remote import RemoteKeys, RemoteTenants, admin_client
from maas.clock import WallClock
from maas.metering import Keys, TenantInfo, Tenants, load_server_secret
from maas.metering.keys import IssuedKey, KeyInfo
from maas.store import make_engine, migrate

__all__ = [
    "ConfigOpt",
    "DataDirOpt",
    "DatabaseOpt",
    "OutputOpt",
    "check_output",
    "tenants_store",
    "keys_store",
    "print_tenants",
    "print_issued",
    "print_keys",
]

ConfigOpt = Annotated[Path | None, typer.Option("--config", help="settings YAML file")]
DataDirOpt = Annotated[Path | None, typer.Option("--data-dir", help="state directory (default .maas)")]
DatabaseOpt = Annotated[str | None, typer.Option("--database-url", help="SQLAlchemy URL (default SQLite in data dir)")]
OutputOpt = Annotated[str, typer.Option("-o", "--output", help="table or json")]


def _engine(config: Path | None, data_dir: Path | None, database_url: str | None) -> tuple[Engine, Path]:
    settings = settings_from(config, data_dir=data_dir, database_url=database_url)
    with errors_to_exit():
        try:
            engine = make_engine(settings.effective_database_url(), busy_timeout_ms=settings.store_busy_timeout_ms)
        except ValueError as exc:
            raise fail(f"database_url: {exc}", EXIT_USAGE) from None
        migrate(engine)
    return engine, settings.data_dir


def _remote(url: str, admin_key: str | None, config: Path | None, data_dir: Path | None, database_url: str | None):
    if database_url is not None:
        raise fail(
            "--database-url: not with --url (allowed: one of them: the local database or a platform)", EXIT_USAGE
        )
    return admin_client(url, admin_key, settings_from(config, data_dir=data_dir).data_dir)


def tenants_store(
    url: str | None, admin_key: str | None, config: Path | None, data_dir: Path | None, database_url: str | None
) -> Tenants | RemoteTenants:
    """The admin API at ``url`` when given, else the local database (migrated first)."""
    if url:
        return RemoteTenants(_remote(url, admin_key, config, data_dir, database_url))
    return Tenants(_engine(config, data_dir, database_url)[0], WallClock())


def keys_store(
    url: str | None, admin_key: str | None, config: Path | None, data_dir: Path | None, database_url: str | None
) -> Keys | RemoteKeys:
    if url:
        return RemoteKeys(_remote(url, admin_key, config, data_dir, database_url))
    engine, state_dir = _engine(config, data_dir, database_url)
    with errors_to_exit():
        return Keys(engine, load_server_secret(state_dir), WallClock())


def check_output(output: str) -> None:
    if output not in ("table", "json"):
        raise fail(f"-o/--output: unknown format {output!r} (allowed: table, json)", EXIT_USAGE)


def _time(t_s: float | None) -> str:
    return "-" if t_s is None else dt.datetime.fromtimestamp(t_s, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")


def _table(headers: list[str], rows: list[list[Any]]) -> None:
    cells = [headers] + [["-" if v is None else str(v) for v in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    for row in cells:
        print("  ".join(value.ljust(width) for value, width in zip(row, widths, strict=True)).rstrip())


def print_tenants(tenants: list[TenantInfo], output: str) -> None:
    if output == "json":
        print(json.dumps([t.to_dict() for t in tenants], indent=2))
        return
    rows = []
    for t in tenants:
        limits = t.limits
        rows.append(
            [
                t.name,
                t.priority,
                t.default_objective,
                t.default_site,
                ",".join(t.allowed_tiers) if t.allowed_tiers else "all",
                ",".join(t.allowed_models) if t.allowed_models else "all",
                limits.rpm,
                limits.requests_per_day,
                limits.requests_per_month,
                limits.max_concurrent,
                "deleted " + _time(t.deleted_at_s) if t.deleted else "active",
            ]
        )
    _table(
        ["NAME", "PRIO", "OBJECTIVE", "SITE", "TIERS", "MODELS", "RPM", "PER_DAY", "PER_MONTH", "CONC", "STATE"], rows
    )


def print_issued(issued: IssuedKey, output: str) -> None:
    if output == "json":
        doc = {name: getattr(issued, name) for name in issued.__slots__}
        print(json.dumps(doc, indent=2))
    else:
        print(issued.key)
        owner = "admin" if issued.tenant is None else f"tenant {issued.tenant}"
        extra = (
            f"; the previous secret works until {_time(issued.previous_valid_until_s)}"
            if issued.previous_valid_until_s
            else ""
        )
        print(f"key id {issued.key_id} ({owner}), expires {_time(issued.expires_at_s)}{extra}", file=sys.stderr)
    print("store this key now: it is not shown again", file=sys.stderr)


def print_keys(keys: list[KeyInfo], output: str) -> None:
    now = WallClock().now_s()
    if output == "json":
        print(json.dumps([k.to_dict(now) for k in keys], indent=2))
        return
    rows = [
        [k.key_id, k.display, k.scope, k.tenant, k.label, k.status(now), _time(k.created_at_s), _time(k.expires_at_s)]
        for k in keys
    ]
    _table(["KEY_ID", "KEY", "SCOPE", "TENANT", "LABEL", "STATUS", "CREATED", "EXPIRES"], rows)
