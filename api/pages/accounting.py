"""Back office: the cash book (accountant, admin), on the JSON route's service."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, StreamingResponse

from api.auth import Claims, Role
from api.pages.access import PREFIX, render, staff_with
from api.routers.accounting import cash_book_csv, cash_book_of
from domain.errors import DomainError

Accountant = Annotated[Claims, Depends(staff_with(Role.ACCOUNTANT))]
router = APIRouter(prefix=PREFIX, include_in_schema=False)


@router.get("/cash-book")
async def cash_book(
    request: Request, staff: Accountant, start: str = "", end: str = ""
) -> HTMLResponse:
    try:
        since, until = _day(start), _day(end)
        async with request.app.state.read_sessionmaker() as session:
            book = await cash_book_of(session, start=since, end=until)
    except (ValueError, DomainError) as error:
        message = getattr(error, "message", "Dates read YYYY-MM-DD.")
        return render(request, "cash_book.html", staff=staff, book=None, start=start, end=end,
                      error=message, status_code=400)  # fmt: skip
    return render(request, "cash_book.html", staff=staff, book=book, start=start, end=end)


@router.get("/cash-book.csv")
async def cash_book_download(
    request: Request, staff: Accountant, start: str = "", end: str = ""
) -> StreamingResponse:
    return cash_book_csv(request, start=_day(start), end=_day(end))


def _day(text: str) -> date | None:
    return date.fromisoformat(text) if text else None
