"""Engines and sessions. One transaction per request or activity: callers use
`async with sessionmaker.begin()`; repositories only flush."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import NullPool


def _enforce_sqlite_rules(dbapi_connection: Any, _record: Any) -> None:
    # The driver's own implicit BEGIN breaks SAVEPOINT; we emit BEGIN ourselves.
    dbapi_connection.isolation_level = None
    # SQLite ignores foreign keys unless asked, and our rules rely on them.
    # WAL lets the API read while the worker writes; busy_timeout makes
    # concurrent writers wait instead of failing with "database is locked".
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=15000")
    cursor.close()


def _begin_immediate(connection: Any) -> None:
    # Take the write lock up front: a deferred transaction that reads, then
    # writes after another process committed fails at once with "database is
    # locked" instead of waiting for busy_timeout. Autocommit reads take none.
    if connection.get_execution_options().get("isolation_level") == "AUTOCOMMIT":
        return
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def create_engine(
    url: str, *, echo: bool = False, pool_size: int = 30, max_overflow: int = 10
) -> AsyncEngine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        _private_file(parsed.database)
        # A file database is shared by several processes (API, worker): no
        # pooled connection should outlive its transaction's lock.
        engine = create_async_engine(url, echo=echo, poolclass=NullPool)
        event.listen(engine.sync_engine, "connect", _enforce_sqlite_rules)
        event.listen(engine.sync_engine, "begin", _begin_immediate)
        return engine
    return create_async_engine(
        url, echo=echo, pool_pre_ping=True, pool_size=pool_size, max_overflow=max_overflow
    )


def _private_file(database: str | None) -> None:
    """SQLite would create its file with the umask's mode (0644: readable by
    every local user, learners' names and addresses included): it is created,
    or tightened, to 0600 before the first connection."""
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database)
    path.parent.mkdir(parents=True, exist_ok=True)
    os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))
    os.chmod(path, 0o600)


def autocommit(engine: AsyncEngine) -> AsyncEngine:
    """The same pool without transactions: each statement commits on its own.

    For read paths that need no snapshot across statements: a single query
    then costs one round trip instead of BEGIN, query, COMMIT."""
    return engine.execution_options(isolation_level="AUTOCOMMIT")


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    # Objects stay readable after commit: responses are built from them.
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)
