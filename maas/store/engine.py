"""Engines and sessions for SQLite (default, one node) and PostgreSQL (several nodes).

SQLite: WAL (readers never wait for the writer), ``busy_timeout_ms`` (a writer waits this long for another
writer's lock before failing), ``foreign_keys=ON``, usable from any thread. Transactions are begun explicitly:
``BEGIN IMMEDIATE`` for sessions that write (a writer takes the lock when it starts, so read-then-write sessions
serialise instead of failing on a stale snapshot), plain ``BEGIN`` for read-only ones.
PostgreSQL (``postgresql+psycopg://``): ``pool_pre_ping`` so a restarted server costs no failed request.

Any ``OperationalError`` (locked, unreachable, I/O) and pool time-outs become ``StoreUnavailable`` (503).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from maas.errors import StoreUnavailable

__all__ = ["default_database_url", "make_engine", "read_scalar", "session_scope", "DEFAULT_BUSY_TIMEOUT_MS"]

DEFAULT_BUSY_TIMEOUT_MS = 5000
SQLITE_BEGIN_OPTION = "maas_sqlite_begin"


def default_database_url(data_dir: Path) -> str:
    """``sqlite:///<data_dir>/maas.db`` (absolute when ``data_dir`` is)."""
    return f"sqlite:///{Path(data_dir) / 'maas.db'}"


def _describe(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def make_engine(url: str, *, busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS, echo: bool = False) -> Engine:
    """An engine for ``url``; for a SQLite file, its directory is created."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if busy_timeout_ms < 0:
            raise ValueError("busy_timeout_ms must be >= 0")
        if parsed.database and parsed.database != ":memory:" and not parsed.database.startswith("file:"):
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            parsed,
            echo=echo,
            connect_args={"check_same_thread": False, "timeout": busy_timeout_ms / 1000.0},
        )
        _configure_sqlite(engine, busy_timeout_ms)
    elif backend == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        engine = create_engine(parsed, echo=echo, pool_pre_ping=True)
    else:
        raise ValueError(
            f"unsupported database URL {_describe(url)!r} (allowed: sqlite:///..., postgresql+psycopg://...)"
        )
    _translate_errors(engine)
    return engine


def _configure_sqlite(engine: Engine, busy_timeout_ms: int) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # SQLAlchemy emits BEGIN itself (below)
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            cursor.execute("PRAGMA foreign_keys = ON")
            _ensure_wal(cursor, busy_timeout_ms)
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        mode = connection.get_execution_options().get(SQLITE_BEGIN_OPTION, "IMMEDIATE")
        connection.exec_driver_sql(f"BEGIN {mode}")


def _ensure_wal(cursor: Any, busy_timeout_ms: int) -> None:
    """Switch the file to WAL once (it stays WAL). SQLite does not apply its busy timeout to this switch, so two
    processes opening a new database at once retry here, within the same busy timeout (a lock wait on the OS
    clock, like SQLite's own; not platform time)."""
    deadline_s = time.monotonic() + busy_timeout_ms / 1000.0
    while True:
        mode = str(cursor.execute("PRAGMA journal_mode").fetchone()[0]).lower()
        if mode in ("wal", "memory"):
            return
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline_s:
                raise
        time.sleep(0.002)


def _translate_errors(engine: Engine) -> None:
    where = _describe(str(engine.url))

    @event.listens_for(engine, "handle_error")
    def _on_error(context: Any) -> None:
        if context.is_pre_ping:
            return  # the pool reconnects on its own
        if isinstance(context.sqlalchemy_exception, sa_exc.OperationalError):
            raise StoreUnavailable(f"database {where} unavailable: {context.original_exception}") from (
                context.sqlalchemy_exception
            )


@contextmanager
def session_scope(engine: Engine, *, write: bool = True) -> Iterator[Session]:
    """A session in one transaction: committed when the block ends, rolled back if it raises.

    ``write=False`` begins a read-only-by-convention transaction (SQLite: deferred, never waits for a writer).
    Objects stay usable after the block (``expire_on_commit=False``).
    """
    session = Session(engine, expire_on_commit=False)
    try:
        if engine.dialect.name == "sqlite":
            session.connection(execution_options={SQLITE_BEGIN_OPTION: "IMMEDIATE" if write else "DEFERRED"})
        yield session
        session.commit()
    except (sa_exc.OperationalError, sa_exc.TimeoutError, sa_exc.DisconnectionError) as exc:
        _rollback_quietly(session)
        raise StoreUnavailable(f"database {_describe(str(engine.url))} unavailable: {exc}") from exc
    except BaseException:
        _rollback_quietly(session)
        raise
    finally:
        session.close()


def read_scalar(engine: Engine, statement: Any) -> Any:
    """One value read on a Core connection (no ORM session): for the few reads a gateway repeats several times a
    second in the background (the routing revision), where a session's set-up cost more than the query.
    SQLite: a deferred transaction (never waits for a writer). Errors as ``session_scope``'s."""
    try:
        with engine.connect().execution_options(**{SQLITE_BEGIN_OPTION: "DEFERRED"}) as conn:
            return conn.execute(statement).scalar()
    except (sa_exc.OperationalError, sa_exc.TimeoutError, sa_exc.DisconnectionError) as exc:
        raise StoreUnavailable(f"database {_describe(str(engine.url))} unavailable: {exc}") from exc


def _rollback_quietly(session: Session) -> None:
    """Roll back; a database that is gone cannot roll back, and the first error is the one to report."""
    try:
        session.rollback()
    except (sa_exc.SQLAlchemyError, StoreUnavailable):
        pass
