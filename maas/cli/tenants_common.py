"""What ``maas tenants`` and ``maas keys`` share: options, the store they act on (the local database, or the admin
API with ``--url``), and the output (table or JSON), the same either way."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import Engine

from maas.cli.common import EXIT_USAGE, errors_to_exit, fail, settings_from
from maas.cli.remote import RemoteKeys, RemoteTenants, admin_client
from maas.clock import WallClock
from maas.metering import Keys, TenantInfo, Tenants, load_server_secret
from maas.metering.keys import IssuedKey, KeyInfo
from maas.store import make_engine, migrate
from maas.tables import OUTPUTS, Col, View, render, text
from maas.tables import check_output as _allowed

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
    "tenants_view",
    "keys_view",
]

ConfigOpt = Annotated[Path | None, typer.Option("--config", help="settings YAML file")]
DataDirOpt = Annotated[Path | None, typer.Option("--data-dir", help="state directory (default .maas)")]
DatabaseOpt = Annotated[str | None, typer.Option("--database-url", help="SQLAlchemy URL (default SQLite in data dir)")]
OutputOpt = Annotated[str, typer.Option("-o", "--output", help="table (fitted to the width), wide, json or csv")]


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
    message = _allowed(output, OUTPUTS)
    if message:
        raise fail(message, EXIT_USAGE)


def _time(t_s: float | None) -> str:
    return "-" if t_s is None else dt.datetime.fromtimestamp(t_s, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")


def _names(names: tuple[str, ...] | None) -> str:
    return ",".join(names) if names else "all"


def _state(t: TenantInfo) -> str:
    return "deleted " + _time(t.deleted_at_s) if t.deleted else "active"


def tenants_view(tenants: list[TenantInfo]) -> View:
    """Name and state always; then priority, tiers, limits, objective, site as the width allows (``-o wide``: all,
    with burst, the energy and carbon budgets, the deadline and the contact)."""
    limit = lambda name: lambda t: getattr(t.limits, name)  # noqa: E731
    cols = [
        Col("name", "name", fmt=text, left=True),
        Col("prio", "priority", priority=1),
        Col("objective", "default_objective", fmt=text, left=True, priority=3),
        Col("site", "default_site", fmt=text, left=True, priority=4),
        Col("tiers", lambda t: _names(t.allowed_tiers), fmt=text, left=True, priority=1),
        Col("models", lambda t: _names(t.allowed_models), fmt=text, left=True, priority=2),
        Col("rpm", limit("rpm"), unit="req/min", priority=2),
        Col("burst", limit("burst"), unit="req", priority=9),
        Col("per day", limit("requests_per_day"), unit="req", priority=3),
        Col("per month", limit("requests_per_month"), unit="req", priority=4),
        Col("conc", limit("max_concurrent"), priority=4),
        Col("energy", limit("energy_j_per_day"), unit="J/day", priority=9),
        Col("carbon", limit("carbon_g_per_month"), unit="g/month", priority=9),
        Col("deadline", "default_deadline_ms", unit="ms", priority=9),
        Col("contact", "contact", fmt=text, left=True, priority=9),
        Col("state", _state, fmt=text, left=True),
    ]
    return View(None, cols, tenants)


def print_tenants(tenants: list[TenantInfo], output: str) -> None:
    if output == "json":
        print(json.dumps([t.to_dict() for t in tenants], indent=2))
        return
    render(tenants_view(tenants), output)


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


def keys_view(keys: list[KeyInfo], now_s: float) -> View:
    """Key id, tenant and status always; then label, scope, expiry, the key's display form, creation time."""
    cols = [
        Col("key id", "key_id", fmt=text, left=True),
        Col("key", "display", fmt=text, left=True, priority=4),
        Col("scope", "scope", fmt=text, left=True, priority=2),
        Col("tenant", "tenant", fmt=text, left=True),
        Col("label", "label", fmt=text, left=True, priority=1),
        Col("status", lambda k: k.status(now_s), fmt=text, left=True),
        Col("created", lambda k: k.created_at_s, fmt=_time, left=True, priority=3),
        Col("expires", lambda k: k.expires_at_s, fmt=_time, left=True, priority=2),
    ]
    return View(None, cols, keys)


def print_keys(keys: list[KeyInfo], output: str) -> None:
    now = WallClock().now_s()
    if output == "json":
        print(json.dumps([k.to_dict(now) for k in keys], indent=2))
        return
    render(keys_view(keys, now), output)
