"""The cash book: one entry per money movement, unique per source.

A line paid by a promo code is an entry of its list price (what the code
gave) and a net amount of 0 (what was cashed), labelled with its campaign;
an installment paid by card is an entry of what was charged (net the same),
its refund the same negative, both labelled with the product."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

from sqlalchemy import ForeignKey, String, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from domain.carts import PaymentMethod
from models.academies import Academy
from models.base import Base, Money, UTCDateTime, new_id, upsert_insert
from models.catalog import Product
from models.orders import Order
from models.users import User


class LedgerEntry(Base):
    __tablename__ = "ledger_entries"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    # What the entry records, once: `cart_line:<id>`, `payment:<installment
    # id>`, `refund:<installment id>`; an activity run twice writes nothing more.
    source: Mapped[str] = mapped_column(String(80), unique=True)
    cart_id: Mapped[int | None] = mapped_column(ForeignKey("carts.id", ondelete="RESTRICT"))
    cart_line_id: Mapped[int | None] = mapped_column(
        ForeignKey("cart_lines.id", ondelete="RESTRICT"), unique=True
    )
    order_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("orders.id", ondelete="RESTRICT"), index=True
    )
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    method: Mapped[str] = mapped_column(String(20))
    label: Mapped[str] = mapped_column(String(300))
    amount: Mapped[Decimal] = mapped_column(Money())
    net_amount: Mapped[Decimal] = mapped_column(Money())
    currency: Mapped[str] = mapped_column(String(3), default="EUR")


async def record(*, session: AsyncSession, entries: Sequence[dict]) -> None:
    """Each entry once per `source`."""
    if entries:
        await session.execute(
            upsert_insert(session)(LedgerEntry).on_conflict_do_nothing(index_elements=["source"]),
            [{"id": new_id(), **entry} for entry in entries],
        )


async def record_card_movement(
    *,
    session: AsyncSession,
    order_id: uuid.UUID,
    source: str,
    amount: Decimal,
    at: datetime,
) -> None:
    """An installment's charge (or, negative, its refund) in the cash book."""
    owner, title, currency = (
        await session.execute(
            select(Order.owner_id, Product.title, Order.currency)
            .join(Product, Product.id == Order.product_id)
            .where(Order.id == order_id)
        )
    ).one()
    entry = {
        "at": at,
        "source": source,
        "order_id": order_id,
        "user_id": owner,
        "method": PaymentMethod.CARD.value,
        "label": title[:300],
        "amount": amount,
        "net_amount": amount,
        "currency": currency,
    }
    await record(session=session, entries=[entry])


async def record_academy_payment(
    *,
    session: AsyncSession,
    source: str,
    user_id: str,
    academy_id: uuid.UUID,
    amount: Decimal,
    currency: str,
    at: datetime,
) -> None:
    """An academy subscription's payment, once per `source`: the checkout
    (`checkout:<intent>`: its session's and first invoice's webhooks tell of
    the same money), then each renewal (`invoice:<invoice id>`)."""
    name = await session.scalar(select(Academy.name).where(Academy.id == academy_id))
    entry = {
        "at": at,
        "source": source,
        "user_id": user_id,
        "method": PaymentMethod.CARD.value,
        "label": (name or "academy")[:300],
        "amount": amount,
        "net_amount": amount,
        "currency": currency,
    }
    await record(session=session, entries=[entry])


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
