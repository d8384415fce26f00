"""Readiness: can this API process reach what it serves requests with."""

from __future__ import annotations

import logging

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client

from integrations import temporal as temporal_service

logger = logging.getLogger("guichet.api")


async def _database_ok(engine: AsyncEngine) -> bool:
    try:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
        return True
    except Exception:
        logger.warning("readiness: database unreachable", exc_info=True)
        return False


async def readiness(*, engine: AsyncEngine, temporal: Client) -> dict[str, str]:
    """Each dependency, `ok` or `unreachable`."""
    return {
        "database": "ok" if await _database_ok(engine) else "unreachable",
        "temporal": "ok" if await temporal_service.is_reachable(temporal) else "unreachable",
    }
