"""``maas keys`` (create|list|revoke|rotate): API keys on the local database, or on a platform with ``--url``.

Output ``-o table|wide|json|csv`` (``maas.tables``); a new or rotated key is printed once. Exit codes: 0 ok, 1 store
unavailable or refused by the server, 2 bad input (the message names the field and the allowed values). See
``maas.cli.remote``.
"""

from __future__ import annotations

from typing import Annotated

import typer

from maas.cli.common import EXIT_USAGE, errors_to_exit, fail
from maas.cli.remote import AdminKeyOpt, UrlOpt
from maas.cli.tenants_common import (
    ConfigOpt,
    DatabaseOpt,
    DataDirOpt,
    OutputOpt,
    check_output,
    keys_store,
    print_issued,
    print_keys,
)

__all__ = ["keys_app"]

keys_app = typer.Typer(
    help="API keys: create (shown once), list, revoke, rotate with an overlap.",
    no_args_is_help=True,
    add_completion=False,
)


@keys_app.command("create")
def keys_create(
    tenant: Annotated[str | None, typer.Argument(help="tenant name (omit with --admin)")] = None,
    admin: Annotated[bool, typer.Option("--admin", help="an admin key (belongs to no tenant)")] = False,
    label: Annotated[str | None, typer.Option()] = None,
    expires_days: Annotated[float | None, typer.Option(help="days until the key expires (default never)")] = None,
    output: OutputOpt = "table",
    url: UrlOpt = None,
    admin_key: AdminKeyOpt = None,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    database_url: DatabaseOpt = None,
) -> None:
    """Create a key and print it once."""
    check_output(output)
    if admin == (tenant is not None):
        raise fail("give a tenant name or --admin (allowed: exactly one)", EXIT_USAGE)
    keys = keys_store(url, admin_key, config, data_dir, database_url)
    with errors_to_exit():
        issued = keys.create(
            tenant,
            scope="admin" if admin else "tenant",
            label=label,
            expires_in_s=None if expires_days is None else expires_days * 86400.0,
        )
    print_issued(issued, output)


@keys_app.command("list")
def keys_list(
    tenant: Annotated[str | None, typer.Option(help="only this tenant's keys")] = None,
    output: OutputOpt = "table",
    url: UrlOpt = None,
    admin_key: AdminKeyOpt = None,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    database_url: DatabaseOpt = None,
) -> None:
    """List keys (never their secrets), revoked ones too."""
    check_output(output)
    keys = keys_store(url, admin_key, config, data_dir, database_url)
    with errors_to_exit():
        print_keys(keys.list(tenant), output)


@keys_app.command("revoke")
def keys_revoke(
    key: Annotated[str, typer.Argument(help="key id or the whole key")],
    output: OutputOpt = "table",
    url: UrlOpt = None,
    admin_key: AdminKeyOpt = None,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    database_url: DatabaseOpt = None,
) -> None:
    """Revoke a key now (gateways stop accepting it within the auth cache TTL, 0.5 s by default)."""
    check_output(output)
    keys = keys_store(url, admin_key, config, data_dir, database_url)
    with errors_to_exit():
        print_keys([keys.revoke(key)], output)


@keys_app.command("rotate")
def keys_rotate(
    key: Annotated[str, typer.Argument(help="key id or the whole key")],
    overlap_s: Annotated[float, typer.Option(help="seconds the current secret keeps working")] = 3600.0,
    force: Annotated[bool, typer.Option("--force", help="rotate again during an overlap")] = False,
    output: OutputOpt = "table",
    url: UrlOpt = None,
    admin_key: AdminKeyOpt = None,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    database_url: DatabaseOpt = None,
) -> None:
    """A new secret for the same key id; print it once."""
    check_output(output)
    keys = keys_store(url, admin_key, config, data_dir, database_url)
    with errors_to_exit():
        issued = keys.rotate(key, overlap_s=overlap_s, force=force)
    print_issued(issued, output)
