"""Alembic upgrade to head, programmatically (no alembic.ini): ``migrate(engine)``.

Idempotent (at head it does nothing) and safe when several processes call it at once: the whole upgrade runs in
one transaction that first takes a lock, so the second caller waits and then finds the schema at head.
SQLite: the transaction begins ``IMMEDIATE`` (the database's write lock; waits up to the engine's busy timeout).
PostgreSQL: ``pg_advisory_xact_lock`` (released at commit); DDL is transactional there, so a failed upgrade
leaves the previous revision intact.

Revisions are hand-written files in ``maas/store/migrations/versions`` with short ids chained in order:
``0001_tenancy`` (metering: tenants, api_keys) -> ``0002_usage`` -> ``0003_registry`` -> ...
"""

from __future__ import annotations

import functools
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, text
from sqlalchemy import exc as sa_exc

from maas.errors import StoreUnavailable
from maas.store.engine import SQLITE_BEGIN_OPTION

__all__ = ["migrate", "current_revision", "head_revision", "MIGRATIONS_DIR", "MIGRATION_LOCK_KEY"]

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
MIGRATION_LOCK_KEY = 0x6D616173_0001  # "maas" + 1: the PostgreSQL advisory lock taken while migrating


def _config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@functools.cache
def head_revision() -> str | None:
    """The newest revision id in the migrations directory (read once per process)."""
    return ScriptDirectory.from_config(_config()).get_current_head()


def migrate(engine: Engine) -> None:
    """Upgrade the database behind ``engine`` to the newest revision (a no-op when it is there already).

    At head already, only a read happens (no lock is taken), so starting a process next to a busy writer is fine.
    """
    if current_revision(engine) == head_revision():
        return
    try:
        with engine.connect() as connection:
            with connection.begin():
                if connection.dialect.name == "postgresql":
                    connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
                command.upgrade(_config(connection), "head")
    except (sa_exc.OperationalError, sa_exc.TimeoutError, sa_exc.DisconnectionError) as exc:
        raise StoreUnavailable(f"database migration failed, nothing was changed: {exc}") from exc


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (None: never migrated)."""
    try:
        with engine.connect() as connection:
            connection = connection.execution_options(**{SQLITE_BEGIN_OPTION: "DEFERRED"})
            return MigrationContext.configure(connection).get_current_revision()
    except (sa_exc.OperationalError, sa_exc.TimeoutError, sa_exc.DisconnectionError) as exc:
        raise StoreUnavailable(f"database unavailable: {exc}") from exc
