"""Member-site carts, their lines, and the memberships a validated cart gives."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    select,
    text,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from domain.carts import CartNotFound, CartState, Tariff
from domain.catalog import ProductType
from models.base import Base, Money, TimestampMixin, UTCDateTime, new_id, upsert_insert, utcnow
from models.catalog import Product
from models.promo_codes import Campaign, PromoCode

STATES_SQL = ", ".join(f"'{state.value}'" for state in CartState)
TARIFFS_SQL = ", ".join(f"'{tariff.value}'" for tariff in Tariff)
OPEN_SQL = f"state = '{CartState.OPEN.value}'"


class Cart(TimestampMixin, Base):
    __tablename__ = "carts"
    __table_args__ = (
        CheckConstraint(f"state IN ({STATES_SQL})", name="state"),
        # One open cart per member: "the caller's open cart, created if none"
        # stays one cart when two first requests race.
        Index(
            "uq_carts_open_owner",
            "owner_id",
            unique=True,
            postgresql_where=text(OPEN_SQL),
            sqlite_where=text(OPEN_SQL),
        ),
    )

    # Integers: the member-site client knows carts by number.
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    owner_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    state: Mapped[str] = mapped_column(String(20), default=CartState.OPEN.value)
    validated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class CartLine(Base):
    __tablename__ = "cart_lines"
    __table_args__ = (
        CheckConstraint(f"tariff IN ({TARIFFS_SQL})", name="tariff"),
        CheckConstraint("unit_price >= 0", name="unit_price_positive"),
        CheckConstraint("list_price >= 0", name="list_price_positive"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    cart_id: Mapped[int] = mapped_column(ForeignKey("carts.id", ondelete="CASCADE"), index=True)
    product_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("products.id", ondelete="RESTRICT"))
    tariff: Mapped[str] = mapped_column(String(20))
    unit_price: Mapped[Decimal] = mapped_column(Money())
    list_price: Mapped[Decimal] = mapped_column(Money())
    currency: Mapped[str] = mapped_column(String(3), default="EUR")
    # A code pays for one line at most.
    promo_code_id: Mapped[int | None] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"),
        ForeignKey("promo_codes.id", ondelete="RESTRICT"),
        unique=True,
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Membership(Base):
    __tablename__ = "memberships"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    product_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("products.id", ondelete="RESTRICT"))
    cart_id: Mapped[int] = mapped_column(ForeignKey("carts.id", ondelete="CASCADE"))
    # One membership per line, whatever retries validation sees.
    cart_line_id: Mapped[int] = mapped_column(
        ForeignKey("cart_lines.id", ondelete="CASCADE"), unique=True
    )
    active: Mapped[bool] = mapped_column(Boolean, default=False)
    activated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


@dataclass(frozen=True)
class LineView:
    line: CartLine
    product_title: str
    product_type: str
    promocode: str | None
    campaign_name: str | None


async def open_cart(*, session: AsyncSession, owner_id: str) -> Cart:
    """The member's open cart, created if none (once, under concurrency)."""
    await session.execute(
        upsert_insert(session)(Cart)
        .values(owner_id=owner_id, state=CartState.OPEN.value)
        .on_conflict_do_nothing(index_elements=["owner_id"], index_where=text(OPEN_SQL))
    )
    cart = await session.scalar(
        select(Cart).where(Cart.owner_id == owner_id, Cart.state == CartState.OPEN.value)
    )
    assert cart is not None
    return cart


async def owned_cart(
    *, session: AsyncSession, cart_id: int, owner_id: str, lock: bool = False
) -> Cart:
    """The member's cart; another member's is as unknown as a missing one.
    Locked, it cannot be validated while a line is being added, nor the reverse."""
    query = select(Cart).where(Cart.id == cart_id, Cart.owner_id == owner_id)
    cart = await session.scalar(query.with_for_update() if lock else query)
    if cart is None:
        raise CartNotFound(f"No cart {cart_id}.")
    return cart


async def add_line(
    *, session: AsyncSession, cart: Cart, product: Product, tariff: Tariff, promo_code_id: int
) -> CartLine:
    line = CartLine(
        cart_id=cart.id,
        product_id=product.id,
        tariff=tariff.value,
        unit_price=Decimal("0.00") if tariff is Tariff.PROMO_CODE else product.price,
        list_price=product.price,
        currency=product.currency,
        promo_code_id=promo_code_id,
    )
    session.add(line)
    cart.updated_at = utcnow()
    await session.flush()
    return line


async def lines(*, session: AsyncSession, cart_id: int) -> list[LineView]:
    rows = await session.execute(
        select(CartLine, Product.title, Product.type, PromoCode.code, Campaign.name)
        .join(Product, Product.id == CartLine.product_id)
        .outerjoin(PromoCode, PromoCode.id == CartLine.promo_code_id)
        .outerjoin(Campaign, Campaign.id == PromoCode.campaign_id)
        .where(CartLine.cart_id == cart_id)
        .order_by(CartLine.id)
    )
    return [LineView(*row) for row in rows]


async def validate(*, session: AsyncSession, cart: Cart, now: datetime) -> bool:
    """Open → validated, conditionally: False when it already was."""
    moved = await session.execute(
        update(Cart)
        .where(Cart.id == cart.id, Cart.state == CartState.OPEN.value)
        .values(state=CartState.VALIDATED.value, validated_at=now, updated_at=now)
    )
    if moved.rowcount:  # type: ignore[attr-defined]
        cart.state, cart.validated_at = CartState.VALIDATED.value, now
    return bool(moved.rowcount)  # type: ignore[attr-defined]


async def activate_memberships(
    *, session: AsyncSession, cart: Cart, views: list[LineView], now: datetime
) -> None:
    """One active membership per membership line of the cart."""
    rows = [
        {
            "id": new_id(),
            "user_id": cart.owner_id,
            "product_id": view.line.product_id,
            "cart_id": cart.id,
            "cart_line_id": view.line.id,
            "active": True,
            "activated_at": now,
        }
        for view in views
        if view.product_type == ProductType.MEMBERSHIP.value
    ]
    if rows:
        await session.execute(
            upsert_insert(session)(Membership).on_conflict_do_nothing(
                index_elements=["cart_line_id"]
            ),
            rows,
        )
