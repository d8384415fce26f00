"""Vouchers administration (spec 55): discount vouchers are plain records,
written in the request's transaction. A prepaid seat's voucher is read here
but stays its order's (services/orders.py makes, claims and retires it)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.vouchers import (
    Discount,
    PrepaidSeatVoucher,
    VoucherCodeTaken,
    VoucherKind,
    VoucherUsage,
    new_code,
)
from models import orders, vouchers
from models.catalog import Offering, flush_checked, get, list_page
from models.orders import Order
from models.vouchers import Voucher

CSV_BATCH = 500
# The orders a voucher's page lists; the rest are in the orders list by voucher code.
RECENT_ORDERS = 50


@dataclass(frozen=True)
class VoucherSearch:
    """What an operator looks vouchers up by: part of the code, active or
    not, discount vouchers or prepaid seats' (None: any)."""

    code: str | None = None
    is_active: bool | None = None
    kind: VoucherKind | None = None


@dataclass(frozen=True)
class VoucherView:
    """A voucher with its usage; on its own page, its newest orders (each
    with its learner's email)."""

    voucher: Voucher
    usage: VoucherUsage
    orders: Sequence[tuple[Order, str | None]] = field(default_factory=tuple)


async def create(
    *, session: AsyncSession, code: str | None, fields: dict[str, Any], staff_id: str
) -> VoucherView:
    """A discount voucher with the code given (normalized) or a random one;
    409 voucher_code_taken, 404 offering_not_found."""
    voucher = Voucher(id=uuid.uuid4(), code=code or new_code(), created_by=staff_id)
    await _apply(session=session, voucher=voucher, changes=fields)
    session.add(voucher)

    async def code_free() -> None:
        if await vouchers.code_exists(session=session, code=voucher.code):
            raise VoucherCodeTaken(f"The code {voucher.code} is taken by another voucher.")

    await flush_checked(session=session, checks=code_free)
    return await view(session=session, voucher_id=voucher.id)


async def update(
    *, session: AsyncSession, voucher_id: uuid.UUID, changes: dict[str, Any]
) -> VoucherView:
    """Change what `changes` names (None clears a date, the cap or the
    offering); 409 voucher_of_prepaid_seat for a seat's voucher."""
    voucher = await vouchers.get(session=session, id=voucher_id)
    if voucher.for_prepaid_seat:
        raise PrepaidSeatVoucher(
            "This voucher is a prepaid seat's: cancel or refund its order instead."
        )
    await _apply(session=session, voucher=voucher, changes=changes)
    await session.flush()
    return await view(session=session, voucher_id=voucher_id)


async def _apply(*, session: AsyncSession, voucher: Voucher, changes: dict[str, Any]) -> None:
    if changes.get("offering_id") is not None:
        await get(session=session, model=Offering, id=changes["offering_id"])
    discount: Discount | None = changes.get("discount")
    for name, value in changes.items():
        if name != "discount":
            setattr(voucher, name, value)
    if discount is not None:
        voucher.discount_rate, voucher.discount_amount = discount.rate, discount.amount
    voucher.validity.check_dates()


async def view(*, session: AsyncSession, voucher_id: uuid.UUID) -> VoucherView:
    voucher = await vouchers.get(session=session, id=voucher_id)
    usage = await orders.voucher_usage(session=session, voucher_ids=[voucher.id])
    recent = await orders.voucher_orders(
        session=session, voucher_id=voucher.id, limit=RECENT_ORDERS
    )
    return VoucherView(voucher=voucher, usage=usage[voucher.id], orders=recent)


async def page(
    *, session: AsyncSession, search: VoucherSearch, offset: int, limit: int
) -> tuple[int, list[VoucherView]]:
    count, found = await list_page(
        session=session, query=_query(search), offset=offset, limit=limit
    )
    return count, await _with_usage(session=session, found=found)


async def batches(
    *, sessionmaker: async_sessionmaker[AsyncSession], search: VoucherSearch
) -> AsyncIterator[list[VoucherView]]:
    """Every voucher the filters keep, a batch at a time (the CSV export)."""
    query = _query(search)
    async with sessionmaker() as session:
        offset = 0
        while found := (await session.scalars(query.offset(offset).limit(CSV_BATCH))).all():
            yield await _with_usage(session=session, found=found)
            offset += CSV_BATCH
            session.expunge_all()


def _query(search: VoucherSearch) -> Any:
    return vouchers.search_query(code=search.code, is_active=search.is_active, kind=search.kind)


async def _with_usage(*, session: AsyncSession, found: Sequence[Voucher]) -> list[VoucherView]:
    usage = await orders.voucher_usage(session=session, voucher_ids=[item.id for item in found])
    return [VoucherView(voucher=item, usage=usage[item.id]) for item in found]
