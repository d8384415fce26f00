"""Storage of the dummy signature provider's procedures (the embedded default)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, String
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column

from integrations.signature.dummy import DummyProcedure
from models.base import Base, JsonRowStore, TimestampMixin


class DummySignatureProcedure(TimestampMixin, Base):
    __tablename__ = "dummy_signature_procedures"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)


class SqlProcedureStore:
    """integrations.signature.dummy.ProcedureStore on our database."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._rows = JsonRowStore(
            sessionmaker=sessionmaker, model=DummySignatureProcedure, payload=DummyProcedure
        )

    async def save(self, procedure: DummyProcedure) -> None:
        await self._rows.put(procedure.reference, procedure)

    async def load(self, reference: str) -> DummyProcedure | None:
        return await self._rows.get(reference)
