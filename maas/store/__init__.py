"""The shared database layer: one ``MetaData`` (``Base``), engines, sessions and Alembic migrations.

SQLite (``<data_dir>/maas.db``) is the default; PostgreSQL (``postgresql+psycopg://...``) serves several nodes.
Table classes live in the package that owns them (``maas.metering.tables``, ...) and subclass ``Base``; their
migrations are hand-written revisions in ``maas/store/migrations/versions``. This package imports only
SQLAlchemy and Alembic (layer rule): it never imports the packages whose tables it migrates.

A locked or unreachable database raises ``maas.errors.StoreUnavailable`` (503) from any statement, connect,
commit or migration.
"""

from __future__ import annotations

from maas.store.base import Base
from maas.store.engine import default_database_url, make_engine, read_scalar, session_scope
from maas.store.migrate import current_revision, migrate

__all__ = [
    "Base",
    "default_database_url",
    "make_engine",
    "read_scalar",
    "session_scope",
    "migrate",
    "current_revision",
]
