"""Read caches of every API process emptied together (PostgreSQL LISTEN /
NOTIFY): a process that changed what the public reads serve (a deep link,
the academy catalogue) announces it once committed; every process listening
empties its cache within moments instead of serving the old answer until it
expires (GUICHET_READ_CACHE_SECONDS stays the bound if a notice is missed)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import psycopg
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

CHANNEL = "guichet_read_cache"
logger = logging.getLogger("guichet.cache")


def supported(engine: AsyncEngine) -> bool:
    return engine.dialect.name == "postgresql"


async def announce(engine: AsyncEngine) -> None:
    """Tell every listening process to empty its read cache (PostgreSQL
    only; elsewhere one process serves, and it has emptied its own)."""
    if not supported(engine):
        return
    async with engine.connect() as connection:
        await connection.execute(text("SELECT pg_notify(:channel, '')"), {"channel": CHANNEL})
        await connection.commit()


def _libpq_url(engine: AsyncEngine) -> str:
    return make_url(engine.url).set(drivername="postgresql").render_as_string(hide_password=False)


async def listen(engine: AsyncEngine, on_notice: Callable[[], None]) -> None:
    """Call `on_notice` at each announcement, until cancelled; a lost
    connection is opened again, and what was missed meanwhile counts as a
    notice (the cache is emptied)."""
    pause = 0.5
    while True:
        try:
            async with await psycopg.AsyncConnection.connect(
                _libpq_url(engine), autocommit=True
            ) as connection:
                await connection.execute(f"LISTEN {CHANNEL}")
                on_notice()  # anything announced while we were not listening
                pause = 0.5
                async for _ in connection.notifies():
                    on_notice()
        except asyncio.CancelledError:
            raise
        except Exception as error:
            logger.warning("read-cache notices: %s; listening again", type(error).__name__)
            await asyncio.sleep(pause)
            pause = min(pause * 2, 30)
