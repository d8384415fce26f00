"""Back office: vouchers (admin). The list with usage and a CSV download,
the form that makes a discount voucher, and a voucher's page (edit,
deactivate, its orders), over the services and request models of the JSON
routes: a refusal is shown on the page with its reason. Dates are typed
and shown in Paris time; a discount is typed as a percentage or an amount."""

from __future__ import annotations

import uuid
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse
from pydantic import ValidationError

from api.auth import Claims
from api.csv import streamed_csv
from api.pages.access import (
    PAGE_SIZE,
    PREFIX,
    csrf_checked,
    page_number,
    pages_of,
    paris_moment,
    refusal_of,
    render,
    see_other,
    staff_with,
    templates,
)
from api.pages.catalog import offering_search
from api.schemas.vouchers import (
    CSV_COLUMNS,
    VoucherIn,
    VoucherPatch,
    csv_row,
    voucher_detail,
    voucher_out,
)
from domain.errors import DomainError
from domain.vouchers import VoucherKind
from services import vouchers

Admin = Annotated[Claims, Depends(staff_with())]
router = APIRouter(prefix=PREFIX, include_in_schema=False)

# The list's filters as the page's selects offer them; anything else: no filter.
KINDS = {"discount": VoucherKind.DISCOUNT, "prepaid_seat": VoucherKind.PREPAID_SEAT}
ACTIVE = {"yes": True, "no": False}
FORM_FIELDS = (
    "code",
    "discount_kind",
    "discount_value",
    "multiple_use",
    "multiple_users",
    "valid_from",
    "valid_until",
    "max_uses",
    "offering_id",
)


def percent(rate: Decimal) -> str:
    """0.125 as "12.5": what an operator types and reads."""
    return f"{(rate * 100).normalize():f}"


def discount_text(discount: Any) -> str:
    if discount.rate is not None:
        return f"{percent(discount.rate)} %"
    return f"{discount.amount} off"


templates.env.filters["discount"] = discount_text


def _search(query: str, kind: str, active: str) -> vouchers.VoucherSearch:
    return vouchers.VoucherSearch(
        code=query.strip()[:64] or None, is_active=ACTIVE.get(active), kind=KINDS.get(kind)
    )


@router.get("/vouchers")
async def vouchers_page(
    request: Request,
    staff: Admin,
    query: str = "",
    kind: str = "discount",
    active: str = "",
    page: int = 1,
) -> HTMLResponse:
    """Discount vouchers by default: a bulk sale's seats would drown them."""
    page = page_number(page)
    async with request.app.state.read_sessionmaker() as session:
        count, found = await vouchers.page(
            session=session,
            search=_search(query, kind, active),
            offset=(page - 1) * PAGE_SIZE,
            limit=PAGE_SIZE,
        )
    filters = {"query": query, "kind": kind, "active": active}
    return render(
        request,
        "vouchers.html",
        staff=staff,
        vouchers=[voucher_out(view) for view in found],
        filters=filters,
        filter_query=urlencode(filters),
        count=count,
        page=page,
        pages=pages_of(count),
        notice=request.query_params.get("done"),
    )


@router.get("/vouchers.csv")
async def vouchers_csv(
    request: Request, staff: Admin, query: str = "", kind: str = "discount", active: str = ""
) -> StreamingResponse:
    batches = vouchers.batches(
        sessionmaker=request.app.state.read_sessionmaker, search=_search(query, kind, active)
    )
    return streamed_csv(columns=CSV_COLUMNS, batches=batches, row=csv_row, filename="vouchers.csv")


# --- a new voucher --------------------------------------------------------------------


@router.get("/vouchers/new")
async def new_voucher(
    request: Request, staff: Admin, q: str = "", offering_id: str = ""
) -> HTMLResponse:
    return await _new_page(request, staff, search=q, offering_id=offering_id)


async def _new_page(
    request: Request,
    staff: Claims,
    *,
    search: str = "",
    offering_id: str = "",
    form: dict[str, str] | None = None,
    error: Exception | None = None,
) -> HTMLResponse:
    """The form, and the offering search that may restrict the voucher."""
    async with request.app.state.read_sessionmaker() as session:
        chosen, found = await offering_search(
            session=session, search=search, offering_id=offering_id
        )
    message, status = refusal_of(error) if error else (None, 200)
    return render(
        request,
        "voucher_new.html",
        staff=staff,
        search=search,
        found=found,
        searched=bool(search.strip()),
        chosen=chosen,
        form=form or {"discount_kind": "rate"},
        error=message,
        status_code=status,
    )


@router.post("/vouchers/new", dependencies=[Depends(csrf_checked)])
async def create_voucher(request: Request, staff: Admin) -> Response:
    form = await _form(request)
    try:
        body = VoucherIn.model_validate(_voucher_fields(form) | {"code": form["code"] or None})
        async with request.app.state.sessionmaker.begin() as session:
            view = await vouchers.create(
                session=session, code=body.code, fields=body.fields(), staff_id=staff.sub
            )
    except (ValidationError, DomainError, ValueError) as error:
        return await _new_page(
            request, staff, offering_id=form["offering_id"], form=form, error=error
        )
    done = quote(f"Voucher {view.voucher.code} created.")
    return see_other(f"{PREFIX}/vouchers/{view.voucher.id}?done={done}")


# --- one voucher ----------------------------------------------------------------------


@router.get("/vouchers/{voucher_id}")
async def voucher_page(
    request: Request, staff: Admin, voucher_id: uuid.UUID, q: str = "", offering_id: str = ""
) -> HTMLResponse:
    return await _voucher_page(request, staff, voucher_id, search=q, offering_id=offering_id)


async def _voucher_page(
    request: Request,
    staff: Claims,
    voucher_id: uuid.UUID,
    *,
    search: str = "",
    offering_id: str = "",
    form: dict[str, str] | None = None,
    error: Exception | None = None,
) -> HTMLResponse:
    """The voucher with its orders; a discount voucher's edit form, where
    another offering may be searched for and chosen."""
    async with request.app.state.read_sessionmaker() as session:
        view = await vouchers.view(session=session, voucher_id=voucher_id)
        chosen, found = await offering_search(
            session=session, search=search, offering_id=offering_id
        )
    voucher = voucher_detail(view)
    message, status = refusal_of(error) if error else (None, 200)
    return render(
        request,
        "voucher.html",
        staff=staff,
        voucher=voucher,
        form=form or _as_form(voucher),
        search=search,
        found=found,
        searched=bool(search.strip()),
        chosen=chosen,
        notice=request.query_params.get("done"),
        error=message,
        status_code=status,
    )


@router.post("/vouchers/{voucher_id}", dependencies=[Depends(csrf_checked)])
async def change_voucher(request: Request, staff: Admin, voucher_id: uuid.UUID) -> Response:
    """Every field of the form is sent: an emptied date, cap or offering is cleared."""
    form = await _form(request)
    try:
        patch = VoucherPatch.model_validate(_voucher_fields(form))
        await _change(request, voucher_id, patch)
    except (ValidationError, DomainError, ValueError) as error:
        return await _voucher_page(request, staff, voucher_id, form=form, error=error)
    return see_other(f"{PREFIX}/vouchers/{voucher_id}?done={quote('Saved.')}")


@router.post("/vouchers/{voucher_id}/active", dependencies=[Depends(csrf_checked)])
async def activate_voucher(
    request: Request,
    staff: Admin,
    voucher_id: uuid.UUID,
    action: Annotated[Literal["activate", "deactivate"], Form()],
) -> Response:
    try:
        await _change(request, voucher_id, VoucherPatch(is_active=action == "activate"))
    except DomainError as error:
        return await _voucher_page(request, staff, voucher_id, error=error)
    done = "Voucher activated." if action == "activate" else "Voucher deactivated."
    return see_other(f"{PREFIX}/vouchers/{voucher_id}?done={quote(done)}")


async def _change(request: Request, voucher_id: uuid.UUID, patch: VoucherPatch) -> None:
    async with request.app.state.sessionmaker.begin() as session:
        await vouchers.update(session=session, voucher_id=voucher_id, changes=patch.changes())


# --- the form's fields ------------------------------------------------------------------


async def _form(request: Request) -> dict[str, str]:
    form = await request.form()
    return {name: str(form.get(name, "")).strip() for name in FORM_FIELDS}


def _voucher_fields(form: dict[str, str]) -> dict[str, Any]:
    """The request model's fields from what the form holds: a percentage
    (20 for 20 %) or an amount; dates in Paris time; empty: none."""
    return {
        "discount": _discount(form["discount_kind"], form["discount_value"]),
        "multiple_use": form["multiple_use"] == "on",
        "multiple_users": form["multiple_users"] == "on",
        "valid_from": paris_moment(form["valid_from"]),
        "valid_until": paris_moment(form["valid_until"]),
        "max_uses": form["max_uses"] or None,
        "offering_id": form["offering_id"] or None,
    }


def _discount(kind: str, value: str) -> dict[str, Decimal]:
    try:
        number = Decimal(value.replace(",", "."))
    except InvalidOperation:
        raise ValueError("The discount is a number: a percentage or an amount.") from None
    if kind == "rate":
        return {"rate": number / 100}
    return {"amount": number}


def _as_form(voucher) -> dict[str, Any]:
    """A voucher's values as its edit form holds them."""
    rate, amount = voucher.discount.rate, voucher.discount.amount
    return {
        "discount_kind": "rate" if rate is not None else "amount",
        "discount_value": percent(rate) if rate is not None else str(amount),
        "multiple_use": "on" if voucher.multiple_use else "",
        "multiple_users": "on" if voucher.multiple_users else "",
        "valid_from": voucher.valid_from,
        "valid_until": voucher.valid_until,
        "max_uses": voucher.max_uses or "",
        "offering_id": str(voucher.offering.id) if voucher.offering else "",
    }
