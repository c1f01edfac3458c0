"""``maas tenants`` (create|list|show|update|delete) and ``maas keys`` (create|list|revoke|rotate, in ``maas.cli.keys``).

They work on the local database from settings (``--data-dir``, ``--database-url``, ``--config``; the schema is
migrated first), or with ``--url`` (env ``MAAS_URL``) on a running platform through its admin API (``--admin-key``,
env ``MAAS_ADMIN_KEY``, default ``<data dir>/admin.key``; see ``maas.cli.remote``). Output ``-o table|wide|json|csv``
(``maas.tables``), the same either way. Exit codes: 0 ok, 1 store unavailable or refused by the server (its error
printed), 2 bad input (the message names the field and the allowed values). A mutation is one transaction: when it
fails, nothing changed.
Mount with ``app.add_typer(tenants.tenants_app, name="tenants")`` and ``app.add_typer(tenants.keys_app, name="keys")``.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from maas.cli.common import EXIT_USAGE, errors_to_exit, fail
from maas.cli.keys import keys_app
from maas.cli.remote import AdminKeyOpt, UrlOpt
from maas.cli.tenants_common import (
    ConfigOpt,
    DatabaseOpt,
    DataDirOpt,
    OutputOpt,
    check_output,
    print_tenants,
    tenants_store,
)
from maas.metering.tenants import LIMIT_RANGES

__all__ = ["tenants_app", "keys_app"]

tenants_app = typer.Typer(
    help="Tenants: routing defaults, allowed models/tiers, priority, limits.",
    no_args_is_help=True,
    add_completion=False,
)

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


def _names(value: str | None) -> Any:
    if value is None:
        return None
    return None if value.strip().lower() == "all" else value


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
    url: UrlOpt = None,
    admin_key: AdminKeyOpt = None,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    database_url: DatabaseOpt = None,
) -> None:
    """Create a tenant (names: a-z 0-9 - _ ., at most 64)."""
    check_output(output)
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
    tenants = tenants_store(url, admin_key, config, data_dir, database_url)
    with errors_to_exit():
        print_tenants([tenants.create(name, **profile)], output)


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
    url: UrlOpt = None,
    admin_key: AdminKeyOpt = None,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    database_url: DatabaseOpt = None,
) -> None:
    """Change the given fields of a tenant (``--clear FIELD`` removes a limit or default)."""
    check_output(output)
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
    tenants = tenants_store(url, admin_key, config, data_dir, database_url)
    with errors_to_exit():
        print_tenants([tenants.update(name, **changes)], output)


@tenants_app.command("list")
def tenants_list(
    deleted: Annotated[bool, typer.Option("--deleted", help="include deleted tenants")] = False,
    output: OutputOpt = "table",
    url: UrlOpt = None,
    admin_key: AdminKeyOpt = None,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    database_url: DatabaseOpt = None,
) -> None:
    """List tenants (deleted ones with ``--deleted``)."""
    check_output(output)
    tenants = tenants_store(url, admin_key, config, data_dir, database_url)
    with errors_to_exit():
        print_tenants(tenants.list(include_deleted=deleted), output)


@tenants_app.command("show")
def tenants_show(
    name: str,
    output: OutputOpt = "json",
    url: UrlOpt = None,
    admin_key: AdminKeyOpt = None,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    database_url: DatabaseOpt = None,
) -> None:
    """One tenant with every field (JSON by default)."""
    check_output(output)
    tenants = tenants_store(url, admin_key, config, data_dir, database_url)
    with errors_to_exit():
        tenant = tenants.get(name)
    if output == "json":
        print(json.dumps(tenant.to_dict(), indent=2))
    else:
        print_tenants([tenant], output)


@tenants_app.command("delete")
def tenants_delete(
    name: str,
    output: OutputOpt = "table",
    url: UrlOpt = None,
    admin_key: AdminKeyOpt = None,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    database_url: DatabaseOpt = None,
) -> None:
    """Soft-delete a tenant: it stays in reports, its keys are revoked, its name is not reused."""
    check_output(output)
    tenants = tenants_store(url, admin_key, config, data_dir, database_url)
    with errors_to_exit():
        print_tenants([tenants.delete(name)], output)
