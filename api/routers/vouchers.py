"""Vouchers administration (role admin): discount vouchers made, changed and
read with their usage; prepaid seats' vouchers read only."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse

from api.csv import streamed_csv
from api.deps import AdminUser, ReadSessionDep, SessionDep, require_roles
from api.errors import ERROR_RESPONSES
from api.pagination import Page, PageDep, build_page, known_query_only
from api.schemas.common import QueryText
from api.schemas.vouchers import (
    CSV_COLUMNS,
    VoucherDetail,
    VoucherIn,
    VoucherOut,
    VoucherPatch,
    csv_row,
    voucher_detail,
    voucher_out,
)
from domain.vouchers import VoucherKind
from services import vouchers

router = APIRouter(
    prefix="/api/v1/admin/vouchers",
    tags=["admin: vouchers"],
    dependencies=[Depends(require_roles())],
    responses=ERROR_RESPONSES,
)


async def voucher_search(
    query: Annotated[
        QueryText | None, Query(max_length=64, description="part of the code, any case")
    ] = None,
    is_active: bool | None = None,
    kind: VoucherKind | None = None,
) -> vouchers.VoucherSearch:
    return vouchers.VoucherSearch(code=query, is_active=is_active, kind=kind)


SearchDep = Annotated[vouchers.VoucherSearch, Depends(voucher_search)]


@router.post(
    "",
    status_code=201,
    summary="Create a discount voucher",
    description="With the `code` given (letters, digits, single dashes or underscores; "
    "stored upper-case) or a random 20-character one. Orders refuse it with 400 "
    "`unusable_voucher` before `valid_from`, after `valid_until` or once `max_uses` orders "
    "count (`details.reason`: `not_yet_valid`, `expired`, `max_uses_reached`, "
    "`already_used`). 409 `voucher_code_taken`; 404 `offering_not_found`; 422 "
    "`voucher_dates_out_of_order`.",
)
async def create_voucher(body: VoucherIn, admin: AdminUser, session: SessionDep) -> VoucherDetail:
    view = await vouchers.create(
        session=session, code=body.code, fields=body.fields(), staff_id=admin.sub
    )
    return voucher_detail(view)


@router.get(
    "",
    summary="List vouchers with their usage",
    description="Newest first, filtered by part of the code, active or not, and kind "
    "(`discount`, `prepaid_seat`); 422 `unknown_query_parameter` for any other parameter.",
    dependencies=[Depends(known_query_only)],
)
async def list_vouchers(
    request: Request, session: ReadSessionDep, params: PageDep, search: SearchDep
) -> Page[VoucherOut]:
    count, found = await vouchers.page(
        session=session, search=search, offset=params.offset, limit=params.page_size
    )
    return build_page(
        request=request,
        params=params,
        count=count,
        results=[voucher_out(view) for view in found],
    )


@router.get(
    ".csv",
    summary="Export vouchers as CSV",
    description="The list's filters; one line a voucher with its usage.",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}}},
    dependencies=[Depends(known_query_only)],
)
async def vouchers_csv(request: Request, search: SearchDep) -> StreamingResponse:
    batches = vouchers.batches(sessionmaker=request.app.state.read_sessionmaker, search=search)
    return streamed_csv(columns=CSV_COLUMNS, batches=batches, row=csv_row, filename="vouchers.csv")


@router.get("/{voucher_id}", summary="Read a voucher, with its newest orders")
async def read_voucher(voucher_id: uuid.UUID, session: ReadSessionDep) -> VoucherDetail:
    return voucher_detail(await vouchers.view(session=session, voucher_id=voucher_id))


@router.patch(
    "/{voucher_id}",
    summary="Change a discount voucher, or deactivate it",
    description="Only the fields sent change; null clears `valid_from`, `valid_until`, "
    "`max_uses` or `offering_id`. Orders already placed keep their discount. 409 "
    "`voucher_of_prepaid_seat` (a seat's voucher goes with its order); 422 "
    "`voucher_dates_out_of_order`; 404 `voucher_not_found`, `offering_not_found`.",
)
async def change_voucher(
    voucher_id: uuid.UUID, body: VoucherPatch, session: SessionDep
) -> VoucherDetail:
    view = await vouchers.update(session=session, voucher_id=voucher_id, changes=body.changes())
    return voucher_detail(view)
