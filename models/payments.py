"""Storage of the dummy payment backend's charges (the embedded default)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, String
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column

from integrations.payments.dummy import DummyCharge
from models.base import Base, JsonRowStore, TimestampMixin


class DummyChargeRow(TimestampMixin, Base):
    __tablename__ = "dummy_charges"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)


class SqlChargeStore:
    """integrations.payments.dummy.ChargeStore on our database."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._rows = JsonRowStore(
            sessionmaker=sessionmaker, model=DummyChargeRow, payload=DummyCharge
        )

    async def save(self, charge: DummyCharge) -> None:
        await self._rows.put(charge.key, charge)

    async def load(self, key: str) -> DummyCharge | None:
        return await self._rows.get(key)
