"""Storage of the dummy signature provider's procedures (the embedded default)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, String
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column

from integrations.signature.dummy import DummyProcedure
from models.base import Base, TimestampMixin, upsert_insert, utcnow


class DummySignatureProcedure(TimestampMixin, Base):
    __tablename__ = "dummy_signature_procedures"

    reference: Mapped[str] = mapped_column(String(64), primary_key=True)
    procedure: Mapped[dict[str, Any]] = mapped_column(JSON)


class SqlProcedureStore:
    """integrations.signature.dummy.ProcedureStore on our database."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._sessionmaker = sessionmaker

    async def save(self, procedure: DummyProcedure) -> None:
        async with self._sessionmaker.begin() as session:
            insert = upsert_insert(session)
            statement = insert(DummySignatureProcedure).values(
                reference=procedure.reference,
                procedure=procedure.model_dump(mode="json"),
                created_at=utcnow(),
                updated_at=utcnow(),
            )
            await session.execute(
                statement.on_conflict_do_update(
                    index_elements=["reference"],
                    set_={"procedure": statement.excluded.procedure, "updated_at": utcnow()},
                )
            )

    async def load(self, reference: str) -> DummyProcedure | None:
        async with self._sessionmaker() as session:
            row = await session.get(DummySignatureProcedure, reference)
            return DummyProcedure.model_validate(row.procedure) if row else None
