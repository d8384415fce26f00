"""An order's invoices, credit notes and their transactions."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from models import invoices, orders
from models.invoices import Invoice


async def of_order(
    *, session: AsyncSession, order_id: uuid.UUID, owner_id: str | None
) -> list[Invoice]:
    """The order's documents, main invoice first; `owner_id` None for an admin."""
    await orders.get_order(session=session, id=order_id, owner_id=owner_id)
    return list(await invoices.list_for_order(session=session, order_id=order_id))
