"""An order's invoices, credit notes and transactions (its owner, or an admin)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter
from fastapi.responses import Response

from api.auth import Role
from api.csv import attachment
from api.deps import CurrentUser, ReadSessionDep
from api.errors import ERROR_RESPONSES
from api.schemas.invoices import InvoiceOut, invoice_out
from services import invoices
from services.invoices import InvoicePdf

router = APIRouter(prefix="/api/v1/orders", tags=["invoices"], responses=ERROR_RESPONSES)


def pdf_response(found: InvoicePdf) -> Response:
    """A document the browser shows, kept out of shared caches."""
    headers = attachment(found.filename, inline=True) | {"Cache-Control": "private, no-store"}
    return Response(found.content, media_type="application/pdf", headers=headers)


def _owner(user: CurrentUser) -> str | None:
    return None if user.has_any_role(Role.ADMIN) else user.sub


@router.get(
    "/{order_id}/invoices",
    summary="List an order's invoices",
    description="The main invoice first, then a child invoice per paid installment and a "
    "credit note per refund, each with its transactions. A free order has none.",
)
async def list_invoices(
    order_id: uuid.UUID, user: CurrentUser, session: ReadSessionDep
) -> list[InvoiceOut]:
    found = await invoices.of_order(session=session, order_id=order_id, owner_id=_owner(user))
    return [invoice_out(issued) for issued in found]


@router.get(
    "/{order_id}/invoices/{invoice_id}.pdf",
    summary="Print an invoice",
    description="The invoice, credit note or order summary as a PDF: its issuer, the learner's "
    "billing address, its lines excl. tax, tax and incl. tax, and the payments against it. "
    "The same document gives the same bytes. 404 `invoice_not_found`.",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}, "description": "The PDF."}},
)
async def invoice_pdf(
    order_id: uuid.UUID, invoice_id: uuid.UUID, user: CurrentUser, session: ReadSessionDep
) -> Response:
    found = await invoices.pdf(
        session=session, order_id=order_id, invoice_id=invoice_id, owner_id=_owner(user)
    )
    return pdf_response(found)
