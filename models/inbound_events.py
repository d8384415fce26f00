"""Webhook events received from providers, stored once per (source, event id)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, String, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, UTCDateTime, upsert_insert, utcnow


class InboundEvent(Base):
    __tablename__ = "inbound_events"

    source: Mapped[str] = mapped_column(String(50), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


async def store_once(
    *, session: AsyncSession, source: str, event_id: str, payload: dict[str, Any]
) -> bool:
    """True if the event is new; a duplicate delivery inserts nothing."""
    insert = upsert_insert(session)
    statement = (
        insert(InboundEvent)
        .values(source=source, event_id=event_id, received_at=utcnow(), payload=payload)
        .on_conflict_do_nothing(index_elements=["source", "event_id"])
        .returning(InboundEvent.event_id)
    )
    # RETURNING, not rowcount: a skipped conflict returns no row on both databases.
    return (await session.execute(statement)).scalar_one_or_none() is not None


async def stored_among(*, session: AsyncSession, source: str, event_ids: list[str]) -> set[str]:
    """Which of these events are stored already."""
    found: set[str] = set()
    for start in range(0, len(event_ids), 500):
        chunk = event_ids[start : start + 500]
        rows = await session.scalars(
            select(InboundEvent.event_id).where(
                InboundEvent.source == source, InboundEvent.event_id.in_(chunk)
            )
        )
        found.update(rows)
    return found
