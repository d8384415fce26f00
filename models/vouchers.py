"""Vouchers: discount codes, and the 100 % ones that claim prepaid orders."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Integer,
    Select,
    String,
    false,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, joinedload, mapped_column, relationship

from domain.vouchers import (
    Discount,
    InvalidVoucher,
    Validity,
    VoucherKind,
    VoucherNotFound,
    normalize_code,
)
from models.base import Base, Money, Rate, TimestampMixin, UTCDateTime, new_id
from models.catalog import Offering


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
        CheckConstraint("max_uses IS NULL OR max_uses > 0", name="max_uses"),
        CheckConstraint(
            "valid_from IS NULL OR valid_until IS NULL OR valid_from < valid_until",
            name="dates_in_order",
        ),
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
    valid_from: Mapped[datetime | None] = mapped_column(UTCDateTime())
    valid_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Counted orders (domain.vouchers.count_uses) it allows; None: no cap.
    max_uses: Mapped[int | None] = mapped_column(Integer)
    # Made with a prepaid seat (standalone or bulk sale): its order owns it.
    for_prepaid_seat: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # The staff member who made it in the back office (None: made with a seat).
    created_by: Mapped[str | None] = mapped_column(String(255))

    offering: Mapped[Offering | None] = relationship(lazy="raise")

    @property
    def discount(self) -> Discount:
        return Discount(rate=self.discount_rate, amount=self.discount_amount)

    @property
    def validity(self) -> Validity:
        return Validity(
            valid_from=self.valid_from, valid_until=self.valid_until, max_uses=self.max_uses
        )


async def find_active(*, session: AsyncSession, code: str, lock: bool = False) -> Voucher:
    """The active voucher with this code, or 400 invalid_voucher. Locked, two
    orders using it at once are counted one after the other (max_uses and
    the single-use rules hold under a race)."""
    query = select(Voucher).where(Voucher.code == normalize_code(code))
    found = (await session.scalars(query.with_for_update() if lock else query)).one_or_none()
    if found is None or not found.is_active:
        raise InvalidVoucher("This voucher code does not exist or is no longer valid.")
    return found


def _with_offering() -> Select[tuple[Voucher]]:
    offering = joinedload(Voucher.offering)
    return select(Voucher).options(
        offering.joinedload(Offering.course), offering.joinedload(Offering.product)
    )


def search_query(
    *, code: str | None, is_active: bool | None, kind: VoucherKind | None
) -> Select[tuple[Voucher]]:
    """Vouchers newest first, with their offering: `code` anywhere in theirs."""
    query = _with_offering().order_by(Voucher.created_at.desc(), Voucher.id)
    if code:
        query = query.where(Voucher.code.contains(normalize_code(code), autoescape=True))
    if is_active is not None:
        query = query.where(Voucher.is_active.is_(is_active))
    if kind is not None:
        query = query.where(Voucher.for_prepaid_seat.is_(kind is VoucherKind.PREPAID_SEAT))
    return query


async def get(*, session: AsyncSession, id: uuid.UUID) -> Voucher:
    """The voucher with its offering as the database has them now (after a
    change in this session too: its offering is loaded again)."""
    query = _with_offering().where(Voucher.id == id).execution_options(populate_existing=True)
    found = (await session.scalars(query)).one_or_none()
    if found is None:
        raise VoucherNotFound(f"No voucher with id {id}.")
    return found


async def code_exists(*, session: AsyncSession, code: str) -> bool:
    return await session.scalar(select(Voucher.id).where(Voucher.code == code)) is not None
