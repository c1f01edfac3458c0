"""``maas tenants`` (create|list|show|update|delete) and ``maas keys`` (create|list|revoke|rotate).

They work on the local database from settings (``--data-dir``, ``--database-url``, ``--config``; the schema is
migrated first). Output ``-o table|json``. Exit codes: 0 ok, 1 store unavailable, 2 bad input (the message names
the field and the allowed values). A mutation is one transaction: when it fails, nothing changed.
Mount with ``app.add_typer(tenants.tenants_app, name="tenants")`` and ``app.add_typer(tenants.keys_app, name="keys")``.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy import Engine

from maas.cli.common import EXIT_USAGE, errors_to_exit, fail, settings_from
from maas.clock import WallClock
from maas.metering import Keys, TenantInfo, Tenants, load_server_secret
from maas.metering.keys import IssuedKey, KeyInfo
from maas.metering.tenants import LIMIT_RANGES
from maas.store import make_engine, migrate

__all__ = ["tenants_app", "keys_app"]

tenants_app = typer.Typer(
    help="Tenants: routing defaults, allowed models/tiers, priority, limits.",
    no_args_is_help=True,
    add_completion=False,
)
keys_app = typer.Typer(
    help="API keys: create (shown once), list, revoke, rotate with an overlap.",
    no_args_is_help=True,
    add_completion=False,
)

ConfigOpt = Annotated[Path | None, typer.Option("--config", help="settings YAML file")]
DataDirOpt = Annotated[Path | None, typer.Option("--data-dir", help="state directory (default .maas)")]
DatabaseOpt = Annotated[str | None, typer.Option("--database-url", help="SQLAlchemy URL (default SQLite in data dir)")]
OutputOpt = Annotated[str, typer.Option("-o", "--output", help="table or json")]
ListOpt = Annotated[str | None, typer.Option(help="comma-separated; 'all' for no restriction")]
_CLEARABLE = (
    "contact",
    "default_site",
    "default_objective",
    "default_deadline_ms",
    "allowed_models",
    "allowed_tiers",
    *LIMIT_RANGES,
)


def _engine(config: Path | None, data_dir: Path | None, database_url: str | None) -> tuple[Engine, Path]:
    settings = settings_from(config, data_dir=data_dir, database_url=database_url)
    with errors_to_exit():
        try:
            engine = make_engine(settings.effective_database_url(), busy_timeout_ms=settings.store_busy_timeout_ms)
        except ValueError as exc:
            raise fail(f"database_url: {exc}", EXIT_USAGE) from None
        migrate(engine)
    return engine, settings.data_dir


def _check_output(output: str) -> None:
    if output not in ("table", "json"):
        raise fail(f"-o/--output: unknown format {output!r} (allowed: table, json)", EXIT_USAGE)


def _time(t_s: float | None) -> str:
    return "-" if t_s is None else dt.datetime.fromtimestamp(t_s, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")


def _table(headers: list[str], rows: list[list[Any]]) -> None:
    cells = [headers] + [["-" if v is None else str(v) for v in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    for row in cells:
        print("  ".join(value.ljust(width) for value, width in zip(row, widths, strict=True)).rstrip())


def _names(value: str | None) -> Any:
    if value is None:
        return None
    return None if value.strip().lower() == "all" else value


def _print_tenants(tenants: list[TenantInfo], output: str) -> None:
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


def _profile(**options: Any) -> dict[str, Any]:
    out = {k: v for k, v in options.items() if v is not None}
    for key in ("allowed_models", "allowed_tiers"):
        if key in out:
            out[key] = _names(out[key])
    return out


@tenants_app.command("create")
def tenants_create(
    name: str,
    contact: Annotated[str | None, typer.Option()] = None,
    site: Annotated[str | None, typer.Option(help="default site, e.g. riyadh-sme-1")] = None,
    objective: Annotated[str | None, typer.Option(help="latency|balanced|energy|carbon")] = None,
    deadline_ms: Annotated[float | None, typer.Option()] = None,
    models: ListOpt = None,
    tiers: Annotated[str | None, typer.Option(help="allowed tiers (data residency), comma-separated, or all")] = None,
    priority: Annotated[int | None, typer.Option(help="0 (background) .. 9 (most urgent); default 5")] = None,
    rpm: Annotated[int | None, typer.Option()] = None,
    burst: Annotated[int | None, typer.Option()] = None,
    requests_per_day: Annotated[int | None, typer.Option()] = None,
    requests_per_month: Annotated[int | None, typer.Option()] = None,
    max_concurrent: Annotated[int | None, typer.Option()] = None,
    energy_j_per_day: Annotated[float | None, typer.Option()] = None,
    carbon_g_per_month: Annotated[float | None, typer.Option()] = None,
    output: OutputOpt = "table",
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    database_url: DatabaseOpt = None,
) -> None:
    """Create a tenant (names: a-z 0-9 - _ ., at most 64)."""
    _check_output(output)
    profile = _profile(
        contact=contact,
        default_site=site,
        default_objective=objective,
        default_deadline_ms=deadline_ms,
        allowed_models=models,
        allowed_tiers=tiers,
        priority=priority,
        rpm=rpm,
        burst=burst,
        requests_per_day=requests_per_day,
        requests_per_month=requests_per_month,
        max_concurrent=max_concurrent,
        energy_j_per_day=energy_j_per_day,
        carbon_g_per_month=carbon_g_per_month,
    )
    engine, _ = _engine(config, data_dir, database_url)
    with errors_to_exit():
        _print_tenants([Tenants(engine, WallClock()).create(name, **profile)], output)


@tenants_app.command("update")
def tenants_update(
    name: str,
    contact: Annotated[str | None, typer.Option()] = None,
    site: Annotated[str | None, typer.Option()] = None,
    objective: Annotated[str | None, typer.Option()] = None,
    deadline_ms: Annotated[float | None, typer.Option()] = None,
    models: ListOpt = None,
    tiers: ListOpt = None,
    priority: Annotated[int | None, typer.Option()] = None,
    rpm: Annotated[int | None, typer.Option()] = None,
    burst: Annotated[int | None, typer.Option()] = None,
    requests_per_day: Annotated[int | None, typer.Option()] = None,
    requests_per_month: Annotated[int | None, typer.Option()] = None,
    max_concurrent: Annotated[int | None, typer.Option()] = None,
    energy_j_per_day: Annotated[float | None, typer.Option()] = None,
    carbon_g_per_month: Annotated[float | None, typer.Option()] = None,
    clear: Annotated[list[str] | None, typer.Option(help="field to reset to none (repeatable), e.g. rpm")] = None,
    output: OutputOpt = "table",
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    database_url: DatabaseOpt = None,
) -> None:
    """Change the given fields of a tenant (``--clear FIELD`` removes a limit or default)."""
    _check_output(output)
    changes = _profile(
        contact=contact,
        default_site=site,
        default_objective=objective,
        default_deadline_ms=deadline_ms,
        allowed_models=models,
        allowed_tiers=tiers,
        priority=priority,
        rpm=rpm,
        burst=burst,
        requests_per_day=requests_per_day,
        requests_per_month=requests_per_month,
        max_concurrent=max_concurrent,
        energy_j_per_day=energy_j_per_day,
        carbon_g_per_month=carbon_g_per_month,
    )
    for field in clear or []:
        if field not in _CLEARABLE:
            raise fail(f"--clear: {field!r} cannot be cleared (allowed: {', '.join(_CLEARABLE)})", EXIT_USAGE)
        changes[field] = None
    if not changes:
        raise fail("nothing to update: give at least one field option or --clear FIELD", EXIT_USAGE)
    engine, _ = _engine(config, data_dir, database_url)
    with errors_to_exit():
        _print_tenants([Tenants(engine, WallClock()).update(name, **changes)], output)


@tenants_app.command("list")
def tenants_list(
    deleted: Annotated[bool, typer.Option("--deleted", help="include deleted tenants")] = False,
    output: OutputOpt = "table",
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    database_url: DatabaseOpt = None,
) -> None:
    """List tenants (deleted ones with ``--deleted``)."""
    _check_output(output)
    engine, _ = _engine(config, data_dir, database_url)
    with errors_to_exit():
        _print_tenants(Tenants(engine, WallClock()).list(include_deleted=deleted), output)


@tenants_app.command("show")
def tenants_show(
    name: str,
    output: OutputOpt = "json",
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    database_url: DatabaseOpt = None,
) -> None:
    """One tenant with every field (JSON by default)."""
    _check_output(output)
    engine, _ = _engine(config, data_dir, database_url)
    with errors_to_exit():
        tenant = Tenants(engine, WallClock()).get(name)
    if output == "json":
        print(json.dumps(tenant.to_dict(), indent=2))
    else:
        _print_tenants([tenant], output)


@tenants_app.command("delete")
def tenants_delete(
    name: str,
    output: OutputOpt = "table",
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    database_url: DatabaseOpt = None,
) -> None:
    """Soft-delete a tenant: it stays in reports, its keys are revoked, its name is not reused."""
    _check_output(output)
    engine, _ = _engine(config, data_dir, database_url)
    with errors_to_exit():
        _print_tenants([Tenants(engine, WallClock()).delete(name)], output)


def _keys(config: Path | None, data_dir: Path | None, database_url: str | None) -> Keys:
    engine, state_dir = _engine(config, data_dir, database_url)
    with errors_to_exit():
        return Keys(engine, load_server_secret(state_dir), WallClock())


def _print_issued(issued: IssuedKey, output: str) -> None:
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


def _print_keys(keys: list[KeyInfo], output: str) -> None:
    now = WallClock().now_s()
    if output == "json":
        print(json.dumps([k.to_dict(now) for k in keys], indent=2))
        return
    rows = [
        [k.key_id, k.display, k.scope, k.tenant, k.label, k.status(now), _time(k.created_at_s), _time(k.expires_at_s)]
        for k in keys
    ]
    _table(["KEY_ID", "KEY", "SCOPE", "TENANT", "LABEL", "STATUS", "CREATED", "EXPIRES"], rows)


@keys_app.command("create")
def keys_create(
    tenant: Annotated[str | None, typer.Argument(help="tenant name (omit with --admin)")] = None,
    admin: Annotated[bool, typer.Option("--admin", help="an admin key (belongs to no tenant)")] = False,
    label: Annotated[str | None, typer.Option()] = None,
    expires_days: Annotated[float | None, typer.Option(help="days until the key expires (default never)")] = None,
    output: OutputOpt = "table",
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    database_url: DatabaseOpt = None,
) -> None:
    """Create a key and print it once."""
    _check_output(output)
    if admin == (tenant is not None):
        raise fail("give a tenant name or --admin (allowed: exactly one)", EXIT_USAGE)
    keys = _keys(config, data_dir, database_url)
    with errors_to_exit():
        issued = keys.create(
            tenant,
            scope="admin" if admin else "tenant",
            label=label,
            expires_in_s=None if expires_days is None else expires_days * 86400.0,
        )
    _print_issued(issued, output)


@keys_app.command("list")
def keys_list(
    tenant: Annotated[str | None, typer.Option(help="only this tenant's keys")] = None,
    output: OutputOpt = "table",
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    database_url: DatabaseOpt = None,
) -> None:
    """List keys (never their secrets), revoked ones too."""
    _check_output(output)
    keys = _keys(config, data_dir, database_url)
    with errors_to_exit():
        _print_keys(keys.list(tenant), output)


@keys_app.command("revoke")
def keys_revoke(
    key: Annotated[str, typer.Argument(help="key id or the whole key")],
    output: OutputOpt = "table",
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    database_url: DatabaseOpt = None,
) -> None:
    """Revoke a key now (gateways stop accepting it within the auth cache TTL, 0.5 s by default)."""
    _check_output(output)
    keys = _keys(config, data_dir, database_url)
    with errors_to_exit():
        _print_keys([keys.revoke(key)], output)


@keys_app.command("rotate")
def keys_rotate(
    key: Annotated[str, typer.Argument(help="key id or the whole key")],
    overlap_s: Annotated[float, typer.Option(help="seconds the current secret keeps working")] = 3600.0,
    force: Annotated[bool, typer.Option("--force", help="rotate again during an overlap")] = False,
    output: OutputOpt = "table",
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    database_url: DatabaseOpt = None,
) -> None:
    """A new secret for the same key id; print it once."""
    _check_output(output)
    keys = _keys(config, data_dir, database_url)
    with errors_to_exit():
        issued = keys.rotate(key, overlap_s=overlap_s, force=force)
    _print_issued(issued, output)
