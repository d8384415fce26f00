"""An order's invoices, credit notes and transactions (its owner, or an admin)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from api.auth import Role
from api.deps import CurrentUser, ReadSessionDep
from api.errors import ERROR_RESPONSES
from api.schemas.invoices import InvoiceOut
from services import invoices

router = APIRouter(prefix="/api/v1/orders", tags=["invoices"], responses=ERROR_RESPONSES)


@router.get(
    "/{order_id}/invoices",
    summary="List an order's invoices",
    description="The main invoice first, then a child invoice per paid installment and a "
    "credit note per refund, each with its transactions. A free order has none.",
)
async def list_invoices(
    order_id: uuid.UUID, user: CurrentUser, session: ReadSessionDep
) -> list[InvoiceOut]:
    owner = None if user.has_any_role(Role.ADMIN) else user.sub
    found = await invoices.of_order(session=session, order_id=order_id, owner_id=owner)
    return [InvoiceOut.model_validate(invoice) for invoice in found]
