"""Storage of the dummy payment backend's charges (the embedded default)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, String
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column

from integrations.payments.dummy import DummyCharge
from models.base import Base, TimestampMixin, upsert_insert, utcnow


class DummyChargeRow(TimestampMixin, Base):
    __tablename__ = "dummy_charges"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    charge: Mapped[dict[str, Any]] = mapped_column(JSON)


class SqlChargeStore:
    """integrations.payments.dummy.ChargeStore on our database."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._sessionmaker = sessionmaker

    async def save(self, charge: DummyCharge) -> None:
        async with self._sessionmaker.begin() as session:
            insert = upsert_insert(session)
            statement = insert(DummyChargeRow).values(
                key=charge.key,
                charge=charge.model_dump(),
                created_at=utcnow(),
                updated_at=utcnow(),
            )
            await session.execute(
                statement.on_conflict_do_update(
                    index_elements=["key"],
                    set_={"charge": statement.excluded.charge, "updated_at": utcnow()},
                )
            )

    async def load(self, key: str) -> DummyCharge | None:
        async with self._sessionmaker() as session:
            row = await session.get(DummyChargeRow, key)
            return DummyCharge.model_validate(row.charge) if row else None
