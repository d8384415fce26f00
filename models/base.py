"""Declarative base, shared column types and the naming convention Alembic relies on."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Generic, TypeVar

from pydantic import BaseModel
from sqlalchemy import DateTime, Integer, MetaData, Numeric, func
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator, TypeEngine

# Explicit names make constraints addressable in migrations and identical on
# SQLite and PostgreSQL, and let the API map a violated constraint to its error.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in and out, also on SQLite which stores them naive."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class FixedDecimal(TypeDecorator[Decimal]):
    """NUMERIC(precision, scale) on PostgreSQL; a scaled integer on SQLite,
    which has no exact decimal type."""

    impl = Numeric
    cache_ok = True

    def __init__(self, precision: int, scale: int) -> None:
        super().__init__(precision, scale)
        self.precision = precision
        self.scale = scale

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(Integer())
        return dialect.type_descriptor(Numeric(self.precision, self.scale, asdecimal=True))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        if value is None or dialect.name != "sqlite":
            return value
        return int(Decimal(value).scaleb(self.scale))

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        if dialect.name == "sqlite":
            return Decimal(int(value)).scaleb(-self.scale)
        return Decimal(value).quantize(Decimal(1).scaleb(-self.scale))


class Money(FixedDecimal):
    """Amounts: two places."""

    cache_ok = True

    def __init__(self) -> None:
        super().__init__(12, 2)

    def __repr__(self) -> str:  # how Alembic writes it in migrations
        return "Money()"


class Rate(FixedDecimal):
    """Rates between 0 and 1: four places."""

    cache_ok = True

    def __init__(self) -> None:
        super().__init__(5, 4)

    def __repr__(self) -> str:
        return "Rate()"


Payload = TypeVar("Payload", bound=BaseModel)


def upsert_insert(session: AsyncSession) -> Callable[..., Any]:
    """The dialect's INSERT, which has ON CONFLICT (PostgreSQL and SQLite)."""
    return pg_insert if session.bind.dialect.name == "postgresql" else sqlite_insert


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), default=utcnow, server_default=func.current_timestamp()
    )
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), default=utcnow, onupdate=utcnow, server_default=func.current_timestamp()
    )


def new_id() -> uuid.UUID:
    return uuid.uuid4()


class JsonRowStore(Generic[Payload]):
    """A pydantic object per row, kept as JSON under a string key: the state
    of the dummy providers (signature procedures, charges)."""

    def __init__(
        self,
        *,
        sessionmaker: async_sessionmaker[AsyncSession],
        model: type[Base],
        payload: type[Payload],
    ) -> None:
        self._sessionmaker = sessionmaker
        self._model = model
        self._payload = payload

    async def put(self, key: str, value: Payload) -> None:
        async with self._sessionmaker.begin() as session:
            statement = upsert_insert(session)(self._model).values(
                key=key,
                payload=value.model_dump(mode="json"),
                created_at=utcnow(),
                updated_at=utcnow(),
            )
            await session.execute(
                statement.on_conflict_do_update(
                    index_elements=["key"],
                    set_={"payload": statement.excluded.payload, "updated_at": utcnow()},
                )
            )

    async def get(self, key: str) -> Payload | None:
        async with self._sessionmaker() as session:
            row = await session.get(self._model, key)
            return self._payload.model_validate(row.payload) if row else None  # type: ignore[attr-defined]
