"""Accounting: the cash book's entries over whole UTC days."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.errors import BadRequest, error_class
from models import accounting
from models.accounting import LedgerEntry

InvalidPeriod = error_class(BadRequest, "invalid_period")
Entry = tuple[LedgerEntry, str]  # the entry and its member's email


def _bounds(start: date | None, end: date | None) -> tuple[datetime | None, datetime | None]:
    """Whole UTC days, `end` included."""
    if start and end and end < start:
        raise InvalidPeriod("`to` is before `from`.")
    return (
        datetime.combine(start, time(), UTC) if start else None,
        datetime.combine(end + timedelta(days=1), time(), UTC) if end else None,
    )


async def entries(*, session: AsyncSession, start: date | None, end: date | None) -> list[Entry]:
    since, until = _bounds(start, end)
    rows = await session.execute(accounting.entries_query(start=since, end=until))
    return [(entry, email) for entry, email in rows.all()]


def streamed_entries(
    *, sessionmaker: async_sessionmaker[AsyncSession], start: date | None, end: date | None
) -> AsyncIterator[Entry]:
    """Every entry, streamed (CSV exports): the period is checked now, the
    rows are read as they are sent."""
    since, until = _bounds(start, end)
    query = accounting.entries_query(start=since, end=until)

    async def rows() -> AsyncIterator[Entry]:
        # A transaction: PostgreSQL streams rows through a server-side
        # cursor, which lives only inside one.
        async with sessionmaker() as session:
            streamed = await session.stream(query.execution_options(yield_per=1000))
            async for entry, email in streamed:
                yield entry, email

    return rows()
