"""Storage of the dummy payment backend's charges (the embedded default)."""

from __future__ import annotations

from typing import Any, Generic

from sqlalchemy import JSON, String
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, JsonRowStore, Payload, TimestampMixin


class DummyChargeRow(TimestampMixin, Base):
    __tablename__ = "dummy_charges"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)


class SqlChargeStore(Generic[Payload]):
    """integrations.payments.dummy.ChargeStore on our database. The composition root names the
    record type (DummyCharge): models/ does not import integrations/."""

    def __init__(
        self, sessionmaker: async_sessionmaker[AsyncSession], *, record: type[Payload]
    ) -> None:
        self._rows = JsonRowStore(sessionmaker=sessionmaker, model=DummyChargeRow, payload=record)

    async def save(self, charge: Payload) -> None:
        await self._rows.put(charge.key, charge)  # type: ignore[attr-defined]

    async def load(self, key: str) -> Payload | None:
        return await self._rows.get(key)
