"""The guard that makes each email go out once per (order, installment, kind)."""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, UTCDateTime, upsert_insert, utcnow

# Stands for "no installment" in the key: NULLs would never collide.
NO_INSTALLMENT = "-"


class SentEmail(Base):
    __tablename__ = "sent_emails"

    order_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("orders.id", ondelete="CASCADE"), primary_key=True
    )
    installment_key: Mapped[str] = mapped_column(String(36), primary_key=True)
    kind: Mapped[str] = mapped_column(String(40), primary_key=True)
    recipient: Mapped[str] = mapped_column(String(320))
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


async def reserve(
    *,
    session: AsyncSession,
    order_id: uuid.UUID,
    installment_id: uuid.UUID | None,
    kind: str,
    recipient: str,
    once_per: str | None = None,
) -> bool:
    """True if this mail was never sent; the row commits with the sending.
    Guarded per installment, or `once_per` something else (a copy's
    recipient, a card)."""
    key = str(installment_id) if installment_id else NO_INSTALLMENT
    if once_per is not None:
        key = "k:" + hashlib.sha256(once_per.encode()).hexdigest()[:34]
    insert = upsert_insert(session)
    statement = (
        insert(SentEmail)
        .values(
            order_id=order_id,
            installment_key=key,
            kind=kind,
            recipient=recipient,
            sent_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=["order_id", "installment_key", "kind"])
        .returning(SentEmail.kind)
    )
    return (await session.execute(statement)).scalar_one_or_none() is not None
