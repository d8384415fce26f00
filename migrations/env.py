"""Alembic environment: async engine; the URL comes from the config when the
caller sets it (`guichet migrate`, tests), else from Guichet's settings."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

import models
from models.session import create_engine
from settings import get_settings

config = context.config
target_metadata = models.Base.metadata


# Any constant shared by every Guichet process: API and worker replicas that
# start together each run `guichet migrate`, one at a time.
MIGRATION_LOCK_KEY = 0x6775_6963_6865_74  # "guichet"


def _sqlite_foreign_keys(connection: Connection, *, on: bool) -> None:
    """SQLite changes a constraint by rebuilding the table (batch mode), and
    dropping the old table with foreign keys enforced would cascade to the
    rows that refer to it (or be refused by them). The pragma is ignored inside
    a transaction: it is set on the driver's connection before one begins."""
    cursor = connection.connection.dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA foreign_keys={'ON' if on else 'OFF'}")
    finally:
        cursor.close()


def _check_foreign_keys(connection: Connection) -> None:
    """What foreign keys would have refused, refused at the end instead."""
    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    if broken:
        raise RuntimeError(f"The migration leaves rows without their parent: {broken[:5]}")


def _configure(connection: Connection) -> None:
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        _sqlite_foreign_keys(connection, on=False)
    else:
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY})")
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        # SQLite cannot ALTER constraints: batch mode rebuilds the table.
        render_as_batch=connection.dialect.name == "sqlite",
        # SQLite runs DDL in transactions too; saying so keeps every migration
        # in the one BEGIN IMMEDIATE transaction, so concurrent `guichet
        # migrate` runs cannot interleave between migrations.
        transactional_ddl=True,
    )
    with context.begin_transaction():
        context.run_migrations()
        if sqlite:
            _check_foreign_keys(connection)


async def _run_async(url: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_configure)
            await connection.commit()
            if connection.dialect.name == "sqlite":
                await connection.run_sync(_sqlite_foreign_keys, on=True)
    finally:
        await engine.dispose()


def run() -> None:
    url = config.get_main_option("sqlalchemy.url") or get_settings().effective_database_url
    asyncio.run(_run_async(url))


if context.is_offline_mode():
    raise SystemExit("Offline (SQL script) migrations are not supported; run `guichet migrate`.")
run()
