"""The cash book: one entry per line paid, by whatever method.

A line paid by a promo code is an entry of its list price (what the code
gave) and a net amount of 0 (what was cashed), labelled with its campaign."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

from sqlalchemy import ForeignKey, String, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, Money, UTCDateTime, new_id, upsert_insert
from models.users import User


class LedgerEntry(Base):
    __tablename__ = "ledger_entries"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    cart_id: Mapped[int] = mapped_column(ForeignKey("carts.id", ondelete="RESTRICT"))
    # One entry per line: validation run twice writes nothing more.
    cart_line_id: Mapped[int] = mapped_column(
        ForeignKey("cart_lines.id", ondelete="RESTRICT"), unique=True
    )
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    method: Mapped[str] = mapped_column(String(20))
    label: Mapped[str] = mapped_column(String(300))
    amount: Mapped[Decimal] = mapped_column(Money())
    net_amount: Mapped[Decimal] = mapped_column(Money())
    currency: Mapped[str] = mapped_column(String(3), default="EUR")


async def record(*, session: AsyncSession, entries: Sequence[dict]) -> None:
    if entries:
        await session.execute(
            upsert_insert(session)(LedgerEntry).on_conflict_do_nothing(
                index_elements=["cart_line_id"]
            ),
            [{"id": new_id(), **entry} for entry in entries],
        )


def entries_query(*, start: datetime | None, end: datetime | None):
    """Entries from `start` (included) to `end` (excluded), with the payer's email."""
    query = (
        select(LedgerEntry, User.email)
        .join(User, User.id == LedgerEntry.user_id)
        .order_by(LedgerEntry.at, LedgerEntry.id)
    )
    if start is not None:
        query = query.where(LedgerEntry.at >= start)
    if end is not None:
        query = query.where(LedgerEntry.at < end)
    return query
