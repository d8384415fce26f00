"""Contracts to sign for orders of products that require one."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, TimestampMixin, UTCDateTime, new_id


class Contract(TimestampMixin, Base):
    __tablename__ = "contracts"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    order_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("orders.id", ondelete="CASCADE"), unique=True
    )
    definition_title: Mapped[str] = mapped_column(String(255))
    definition_body: Mapped[str] = mapped_column(Text)
    # Snapshot of what was agreed: learner, organization, course, price, schedule.
    context: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    document_checksum: Mapped[str | None] = mapped_column(String(64))
    signature_backend: Mapped[str | None] = mapped_column(String(20))
    signature_reference: Mapped[str | None] = mapped_column(String(255), unique=True)
    submitted_for_signature_on: Mapped[datetime | None] = mapped_column(UTCDateTime())
    student_signed_on: Mapped[datetime | None] = mapped_column(UTCDateTime())
    organization_signed_on: Mapped[datetime | None] = mapped_column(UTCDateTime())
    organization_signatory: Mapped[dict[str, str] | None] = mapped_column(JSON)
