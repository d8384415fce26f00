"""The worker's own health check: it can reach the database it writes to."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity

from domain.health import DatabaseProbe
from models.catalog import Organization


class HealthActivities:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._sessionmaker = sessionmaker

    @activity.defn(name="health.probe_database")
    async def probe_database(self) -> DatabaseProbe:
        async with self._sessionmaker() as session:
            count = await session.scalar(select(func.count()).select_from(Organization))
            return DatabaseProbe(dialect=session.bind.dialect.name, organizations=int(count or 0))
