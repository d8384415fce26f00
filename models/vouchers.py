"""Vouchers: discount codes, and the 100 % ones that claim prepaid orders."""

from __future__ import annotations

import uuid
from decimal import Decimal

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, String, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from domain.vouchers import Discount, InvalidVoucher, normalize_code
from models.base import Base, Money, Rate, TimestampMixin, new_id


class Voucher(TimestampMixin, Base):
    __tablename__ = "vouchers"
    __table_args__ = (
        CheckConstraint(
            "(discount_rate IS NULL) <> (discount_amount IS NULL)", name="one_discount"
        ),
        # Only the sign: SQLite stores the rate scaled (see FixedDecimal), so a
        # bound like <= 1 cannot be written once for both databases; the
        # upper bound is the domain's (domain.vouchers.Discount).
        CheckConstraint("discount_rate IS NULL OR discount_rate > 0", name="rate"),
        CheckConstraint("discount_amount IS NULL OR discount_amount > 0", name="amount"),
        CheckConstraint("code = upper(code)", name="code_upper"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    # Stored upper-cased: lookups are case-insensitive.
    code: Mapped[str] = mapped_column(String(64), unique=True)
    discount_rate: Mapped[Decimal | None] = mapped_column(Rate())
    discount_amount: Mapped[Decimal | None] = mapped_column(Money())
    multiple_use: Mapped[bool] = mapped_column(Boolean, default=False)
    multiple_users: Mapped[bool] = mapped_column(Boolean, default=False)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Restricts the voucher to one offering when set.
    offering_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("offerings.id", ondelete="CASCADE"), index=True
    )

    @property
    def discount(self) -> Discount:
        return Discount(rate=self.discount_rate, amount=self.discount_amount)


async def find_active(*, session: AsyncSession, code: str) -> Voucher:
    """The active voucher with this code, or 400 invalid_voucher."""
    found = (
        await session.scalars(select(Voucher).where(Voucher.code == normalize_code(code)))
    ).one_or_none()
    if found is None or not found.is_active:
        raise InvalidVoucher("This voucher code does not exist or is no longer valid.")
    return found
