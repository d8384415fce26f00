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


def _configure(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
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


async def _run_async(url: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_configure)
            await connection.commit()
    finally:
        await engine.dispose()


def run() -> None:
    url = config.get_main_option("sqlalchemy.url") or get_settings().effective_database_url
    asyncio.run(_run_async(url))


if context.is_offline_mode():
    raise SystemExit("Offline (SQL script) migrations are not supported; run `guichet migrate`.")
run()
