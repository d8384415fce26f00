"""Accounting reports (role accountant or admin): the cash book."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from datetime import date
from decimal import Decimal
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse

from api.auth import Role
from api.csv import attachment, csv_line
from api.deps import ReadSessionDep, require_roles
from api.errors import ERROR_RESPONSES
from api.schemas.accounting import CashBook, LedgerEntryOut, Total
from services import accounting

# New columns go last: spreadsheets built on the first ones keep working.
CSV_COLUMNS = [
    "at",
    "cart_id",
    "user_email",
    "method",
    "label",
    "amount",
    "net_amount",
    "currency",
    "order_id",
    "source",
]

router = APIRouter(
    prefix="/api/v1/admin/accounting",
    tags=["admin: accounting"],
    responses=ERROR_RESPONSES,
    dependencies=[Depends(require_roles(Role.ACCOUNTANT))],
)


def _entry_out(entry, email: str) -> LedgerEntryOut:
    fields = {
        name: getattr(entry, name) for name in LedgerEntryOut.model_fields if name != "user_email"
    }
    return LedgerEntryOut(**fields, user_email=email)


@router.get(
    "/cash-book",
    summary="The cash book: entries and totals per method and per label",
    description="`from` and `to` are UTC days, both included. Every money movement, once "
    "(`source`): an installment charged by card (method `card`, net = amount, labelled with "
    "the product, `order_id` set), its refund (negative), a payment by promo code (the "
    "membership's list price, net 0, labelled `Code promo (<campaign>)`, `cart_id` set). "
    "`format=csv` streams the entries.",
    response_model=CashBook,
    responses={200: {"content": {"text/csv": {}}}},
)
async def cash_book(
    request: Request,
    session: ReadSessionDep,
    start: Annotated[date | None, Query(alias="from")] = None,
    end: Annotated[date | None, Query(alias="to")] = None,
    format: Literal["json", "csv"] = "json",
) -> CashBook | StreamingResponse:
    if format == "csv":
        return cash_book_csv(request, start=start, end=end)
    return await cash_book_of(session, start=start, end=end)


async def cash_book_of(session, *, start: date | None, end: date | None) -> CashBook:
    """The entries of the days from `start` to `end` (both included) and their totals."""
    rows = await accounting.entries(session=session, start=start, end=end)
    entries = [_entry_out(entry, email) for entry, email in rows]
    return CashBook(
        entries=entries,
        by_method=_totals(entries, key=lambda entry: entry.method),
        by_label=_totals(entries, key=lambda entry: entry.label),
        amount=sum((entry.amount for entry in entries), Decimal("0.00")),
        net_amount=sum((entry.net_amount for entry in entries), Decimal("0.00")),
    )


def _totals(entries: Iterable[LedgerEntryOut], *, key) -> list[Total]:
    totals: dict[str, Total] = {}
    for entry in entries:
        name = key(entry)
        total = totals.setdefault(
            name, Total(key=name, count=0, amount=Decimal("0.00"), net_amount=Decimal("0.00"))
        )
        total.count += 1
        total.amount += entry.amount
        total.net_amount += entry.net_amount
    return sorted(totals.values(), key=lambda total: total.key)


def cash_book_csv(request: Request, *, start: date | None, end: date | None) -> StreamingResponse:
    rows = accounting.streamed_entries(
        sessionmaker=request.app.state.sessionmaker, start=start, end=end
    )

    async def lines() -> AsyncIterator[str]:
        yield csv_line(CSV_COLUMNS)
        async for entry, email in rows:
            yield csv_line(
                [
                    entry.at.isoformat(),
                    entry.cart_id,
                    email,
                    entry.method,
                    entry.label,
                    entry.amount,
                    entry.net_amount,
                    entry.currency,
                    entry.order_id or "",
                    entry.source,
                ]
            )

    return StreamingResponse(
        lines(), media_type="text/csv; charset=utf-8", headers=attachment("cash-book.csv")
    )
