"""Storage of the dummy signature provider's procedures (the embedded default)."""

from __future__ import annotations

from typing import Any, Generic

from sqlalchemy import JSON, String
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, JsonRowStore, Payload, TimestampMixin


class DummySignatureProcedure(TimestampMixin, Base):
    __tablename__ = "dummy_signature_procedures"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)


class SqlProcedureStore(Generic[Payload]):
    """integrations.signature.dummy.ProcedureStore on our database. The composition root names the
    record type (DummyProcedure): models/ does not import integrations/."""

    def __init__(
        self, sessionmaker: async_sessionmaker[AsyncSession], *, record: type[Payload]
    ) -> None:
        self._rows = JsonRowStore(
            sessionmaker=sessionmaker, model=DummySignatureProcedure, payload=record
        )

    async def save(self, procedure: Payload) -> None:
        await self._rows.put(procedure.reference, procedure)  # type: ignore[attr-defined]

    async def load(self, key: str) -> Payload | None:
        return await self._rows.get(key)
