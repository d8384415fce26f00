"""Alembic migrations build exactly the schema the models declare."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import AsyncEngine

import models
from models import migrate
from models.session import create_engine
from tests.conftest import ROOT, create_scratch_database, drop_scratch_database


def _pending_changes(connection) -> list:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return compare_metadata(context, models.Base.metadata)


async def test_upgrade_head_matches_the_models(engine: AsyncEngine, database_url: str) -> None:
    # `database_url` was built by `alembic upgrade head` (see conftest).
    async with engine.connect() as connection:
        diff = await connection.run_sync(_pending_changes)
    assert diff == []


async def test_downgrade_to_base_and_back(tmp_path: Path) -> None:
    url = await create_scratch_database(tmp_path)
    try:
        await asyncio.to_thread(migrate.upgrade, url, "head")
        await asyncio.to_thread(migrate.downgrade, url, "base")
        engine = create_engine(url)
        async with engine.connect() as connection:
            tables = await connection.run_sync(lambda sync: inspect(sync).get_table_names())
        await engine.dispose()
        assert set(tables) <= {"alembic_version"}
        await asyncio.to_thread(migrate.upgrade, url, "head")
    finally:
        await drop_scratch_database(url)


async def _migrate_process(url: str) -> asyncio.subprocess.Process:
    env = {"PATH": os.environ["PATH"], "GUICHET_DATABASE_URL": url}
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "cli",
        "migrate",
        env=env,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def test_concurrent_migrations_are_serialised(tmp_path: Path) -> None:
    """API and worker replicas all run `guichet migrate` when they start."""
    url = await create_scratch_database(tmp_path)
    try:
        runs = [await _migrate_process(url) for _ in range(6)]
        results = await asyncio.gather(*(run.communicate() for run in runs))
        for run, (_, stderr) in zip(runs, results, strict=True):
            assert run.returncode == 0, stderr.decode()
        engine = create_engine(url)
        async with engine.connect() as connection:
            diff = await connection.run_sync(_pending_changes)
        await engine.dispose()
        assert diff == []
    finally:
        await drop_scratch_database(url)
