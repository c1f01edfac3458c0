"""maas.store on SQLite and PostgreSQL: migrations, sessions, locking, error translation, the layer rule."""

from __future__ import annotations

import ast
import sqlite3
import threading
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import exc as sa_exc
from sqlalchemy import inspect, select, text

from maas.errors import NotReady, StoreUnavailable
from maas.metering.tables import ApiKey, Tenant
from maas.store import Base, current_revision, default_database_url, make_engine, migrate, session_scope
from maas.store.migrate import head_revision
from tests.support.databases import database_url, db_engine  # noqa: F401

TENANCY_TABLES = {"tenants", "api_keys"}


def _tenant(name: str) -> Tenant:
    return Tenant(name=name, priority=5, created_at_s=0.0, updated_at_s=0.0)


def test_default_database_url_is_sqlite_in_data_dir(tmp_path: Path) -> None:
    assert default_database_url(tmp_path) == f"sqlite:///{tmp_path}/maas.db"


def test_make_engine_refuses_other_backends() -> None:
    with pytest.raises(ValueError, match="allowed: sqlite"):
        make_engine("mysql://u:secret@host/db")


def test_store_unavailable_is_a_503() -> None:
    assert issubclass(StoreUnavailable, NotReady) and StoreUnavailable.status == 503


def test_migrate_reaches_head_and_is_idempotent(database_url: str) -> None:  # noqa: F811
    engine = make_engine(database_url)
    try:
        assert current_revision(engine) is None
        migrate(engine)
        migrate(engine)
        assert current_revision(engine) == head_revision()
        assert TENANCY_TABLES <= set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_migration_matches_the_table_classes(db_engine) -> None:  # noqa: F811
    with db_engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        diffs = compare_metadata(context, Base.metadata)

    def table_of(diff: object) -> str | None:
        item = diff[0] if isinstance(diff, list) else diff
        for part in item[1:]:
            name = getattr(part, "name", None) if not isinstance(part, str) else None
            table = getattr(part, "table", None)
            if table is not None:
                return table.name
            if name is not None:
                return name
        return None

    ours = [d for d in diffs if table_of(d) in TENANCY_TABLES]
    assert ours == []


def test_two_concurrent_migrations_both_end_at_head(database_url: str) -> None:  # noqa: F811
    engines = [make_engine(database_url), make_engine(database_url)]
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def run(engine) -> None:
        barrier.wait()
        try:
            migrate(engine)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(e,)) for e in engines]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    try:
        assert errors == []
        assert current_revision(engines[0]) == head_revision()
    finally:
        for e in engines:
            e.dispose()


def test_session_scope_commits_and_rolls_back(db_engine) -> None:  # noqa: F811
    with session_scope(db_engine) as session:
        session.add(_tenant("kept"))
    with pytest.raises(RuntimeError):
        with session_scope(db_engine) as session:
            session.add(_tenant("dropped"))
            session.flush()
            raise RuntimeError("boom")
    with session_scope(db_engine, write=False) as session:
        assert session.scalars(select(Tenant.name)).all() == ["kept"]


def test_foreign_keys_are_enforced(db_engine) -> None:  # noqa: F811
    with pytest.raises(sa_exc.IntegrityError):
        with session_scope(db_engine) as session:
            session.add(ApiKey(key_id="a" * 12, scope="tenant", tenant_id=999, secret_hmac="0" * 64, created_at_s=0.0))


def test_sqlite_pragmas(tmp_path: Path) -> None:
    engine = make_engine(default_database_url(tmp_path / "nested" / "dir"), busy_timeout_ms=1234)
    try:
        with engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 1234
        assert (tmp_path / "nested" / "dir" / "maas.db").exists()
    finally:
        engine.dispose()


@pytest.fixture
def locked_sqlite(tmp_path: Path):
    """A migrated SQLite store (busy timeout 0) and another connection holding its write lock exclusively."""
    url = default_database_url(tmp_path)
    engine = make_engine(url, busy_timeout_ms=0)
    migrate(engine)
    other = sqlite3.connect(tmp_path / "maas.db", isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    yield engine, other
    other.close()
    engine.dispose()


def test_locked_sqlite_write_raises_store_unavailable_and_writes_nothing(locked_sqlite) -> None:
    engine, other = locked_sqlite
    with pytest.raises(StoreUnavailable, match="locked"):
        with session_scope(engine) as session:
            session.add(_tenant("a"))
            session.add(_tenant("b"))
    other.execute("COMMIT")
    with session_scope(engine, write=False) as session:
        assert session.scalars(select(Tenant)).all() == []


def test_locked_sqlite_deferred_write_fails_at_flush_and_writes_nothing(locked_sqlite) -> None:
    engine, other = locked_sqlite
    with pytest.raises(StoreUnavailable):
        with session_scope(engine, write=False) as session:
            session.add(_tenant("a"))
            session.flush()
    other.execute("COMMIT")
    with session_scope(engine, write=False) as session:
        assert session.scalars(select(Tenant)).all() == []


def test_locked_sqlite_still_serves_readers(locked_sqlite) -> None:
    engine, _ = locked_sqlite
    with session_scope(engine, write=False) as session:
        assert session.scalars(select(Tenant)).all() == []


def test_migrate_on_a_locked_sqlite_raises_store_unavailable(tmp_path: Path) -> None:
    engine = make_engine(default_database_url(tmp_path), busy_timeout_ms=0)
    with engine.connect() as c:
        c.execute(text("SELECT 1"))
    other = sqlite3.connect(tmp_path / "maas.db", isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StoreUnavailable):
            migrate(engine)
        other.execute("COMMIT")
        assert current_revision(engine) is None
        migrate(engine)
        assert current_revision(engine) == head_revision()
    finally:
        other.close()
        engine.dispose()


def test_unreachable_postgres_raises_store_unavailable() -> None:
    engine = make_engine("postgresql+psycopg://maas:maas@127.0.0.1:1/nowhere?connect_timeout=2")
    try:
        with pytest.raises(StoreUnavailable, match="unavailable"):
            with session_scope(engine) as session:
                session.execute(text("SELECT 1"))
        with pytest.raises(StoreUnavailable):
            migrate(engine)
    finally:
        engine.dispose()


def test_store_imports_only_sqlalchemy_alembic_and_maas_basics() -> None:
    allowed_maas = {"maas.store", "maas.errors"}
    root = Path(__file__).resolve().parents[2] / "maas" / "store"
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                if name.startswith("maas"):
                    assert any(name == a or name.startswith(a + ".") for a in allowed_maas), (path, name)


def test_migrate_at_head_takes_no_lock(locked_sqlite) -> None:
    engine, _ = locked_sqlite
    migrate(engine)  # another writer holds the lock: a database at head needs none
    assert current_revision(engine) == head_revision()
