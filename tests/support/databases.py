"""Database fixtures: every store test runs on SQLite (a tmp dir) and on PostgreSQL (a fresh schema per test).

PostgreSQL comes from ``MAAS_TEST_POSTGRES_URL`` (e.g. ``postgresql+psycopg://maas:maas@127.0.0.1:5432/maas_test``;
the role needs CREATE on that database). Each test gets its own schema (``search_path`` set in the URL's
``options``), dropped afterwards. With no URL or no server answering, PostgreSQL tests are skipped with the reason,
unless ``MAAS_REQUIRE_POSTGRES=1``: then they fail (CI sets it).

Use: ``from tests.support.databases import database_url, db_engine  # noqa: F401`` in a test module.
"""

from __future__ import annotations

import functools
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from maas.store import default_database_url, make_engine, migrate

__all__ = ["BACKENDS", "database_url", "db_engine", "postgres_base_url", "schema_url"]

BACKENDS = ("sqlite", "postgresql")
POSTGRES_URL_ENV = "MAAS_TEST_POSTGRES_URL"
REQUIRE_ENV = "MAAS_REQUIRE_POSTGRES"


def _unavailable(reason: str) -> None:
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"PostgreSQL required ({REQUIRE_ENV}=1) but {reason}", pytrace=False)
    pytest.skip(f"PostgreSQL tests skipped: {reason}")


def _admin_engine(url: str) -> Engine:
    return create_engine(make_url(url), poolclass=NullPool, connect_args={"connect_timeout": 3})


def postgres_base_url() -> str | None:
    """The server URL if one answers, else None (probed once per URL)."""
    url = os.environ.get(POSTGRES_URL_ENV)
    return _probe(url) if url else None


@functools.cache
def _probe(url: str) -> str | None:
    engine = _admin_engine(url)
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except sa_exc.SQLAlchemyError:
        return None
    finally:
        engine.dispose()
    return url


def schema_url(base_url: str, schema: str) -> str:
    """``base_url`` with every connection's ``search_path`` set to ``schema``."""
    url = make_url(base_url).update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False)


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database: SQLite in ``tmp_path/data`` or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield default_database_url(tmp_path / "data")
        return
    base_url = postgres_base_url()
    if base_url is None:
        configured = os.environ.get(POSTGRES_URL_ENV)
        _unavailable(
            f"no server answers at {make_url(configured).render_as_string(hide_password=True)}"
            if configured
            else f"{POSTGRES_URL_ENV} is not set"
        )
    schema = f"t_{uuid.uuid4().hex[:16]}"
    admin = _admin_engine(base_url)
    try:
        with admin.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        yield schema_url(base_url, schema)
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def db_engine(database_url: str) -> Iterator[Engine]:
    """A migrated engine on ``database_url`` (disposed afterwards)."""
    engine = make_engine(database_url)
    migrate(engine)
    try:
        yield engine
    finally:
        engine.dispose()
