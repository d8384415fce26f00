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
    bindparam,
    delete,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from domain.carts import CartLineNotFound, CartNotFound, CartState, Tariff
from domain.catalog import ProductType
from models.base import Base, Money, TimestampMixin, UTCDateTime, new_id, upsert_insert, utcnow
from models.catalog import Product
from models.promo_codes import ACTIVATABLE, Campaign, PromoCode


class CodeLimitReached(Exception):
    """The member would hold more of a campaign's codes than it allows."""


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
class MembershipView:
    membership: Membership
    product_title: str
    # The code it was bought with, and its campaign (None: not with a code).
    promocode: str | None
    campaign_name: str | None


async def memberships_of(
    *, session: AsyncSession, user_id: str, offset: int, limit: int
) -> tuple[int, list[MembershipView]]:
    """A member's memberships, newest first, with what bought them."""
    mine = Membership.user_id == user_id
    count = await session.scalar(select(func.count()).select_from(Membership).where(mine))
    rows = await session.execute(
        select(Membership, Product.title, PromoCode.code, Campaign.name)
        .join(Product, Product.id == Membership.product_id)
        .join(CartLine, CartLine.id == Membership.cart_line_id)
        .outerjoin(PromoCode, PromoCode.id == CartLine.promo_code_id)
        .outerjoin(Campaign, Campaign.id == PromoCode.campaign_id)
        .where(mine)
        .order_by(Membership.activated_at.desc().nulls_last(), Membership.id)
        .offset(offset)
        .limit(limit)
    )
    return int(count or 0), [MembershipView(*row) for row in rows]


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


_carts, _lines, _codes = Cart.__table__, CartLine.__table__, PromoCode.__table__
_campaigns, _products = Campaign.__table__, Product.__table__

# The activation is the hot path: two statements built once, on tables (Core
# skips the ORM's per-call construction and bulk-update bookkeeping).
#
# 1. The code is taken by one conditional UPDATE, so however many requests
#    race for it exactly one gets it; only for the member's open cart, which
#    it locks so the cart cannot be validated before the line is in, and so
#    one member's activations follow one another (a campaign's limit per
#    member is counted after, with the lock held).
_MEMBERS_OPEN_CART = (
    select(_carts.c.id)
    .where(
        _carts.c.id == bindparam("cart"),
        _carts.c.owner_id == bindparam("member"),
        _carts.c.state == CartState.OPEN.value,
    )
    .with_for_update()
)
_TAKE = (
    update(_codes)
    .where(
        _codes.c.code == bindparam("typed"),
        _codes.c.used_by.is_(None),
        _codes.c.revoked_at.is_(None),
        _codes.c.campaign_id.in_(
            select(_campaigns.c.id).where(
                or_(
                    _campaigns.c.valid_until.is_(None), _campaigns.c.valid_until > bindparam("now")
                ),
                _campaigns.c.status.in_(ACTIVATABLE),
                _campaigns.c.is_active.is_(True),
            )
        ),
        exists(_MEMBERS_OPEN_CART),
    )
    .values(used_by=bindparam("member"), activated_at=bindparam("now"))
    .returning(
        _codes.c.id,
        _codes.c.campaign_id,
        select(_campaigns.c.product_id)
        .where(_campaigns.c.id == _codes.c.campaign_id)
        .scalar_subquery(),
        select(_campaigns.c.max_codes_per_member)
        .where(_campaigns.c.id == _codes.c.campaign_id)
        .scalar_subquery(),
    )
)
# 2. The line: the code's product at the promo_code tariff, 0.00 instead of
#    its list price.
_ADD_PROMO_LINE = insert(_lines).from_select(
    ["cart_id", "product_id", "tariff", "unit_price", "list_price", "currency",
     "promo_code_id", "created_at"],
    select(
        bindparam("cart", type_=Integer()),
        _products.c.id,
        literal(Tariff.PROMO_CODE.value),
        bindparam("free", Decimal("0.00"), type_=Money()),
        _products.c.price,
        _products.c.currency,
        bindparam("code_id", type_=BigInteger()),
        bindparam("at", type_=UTCDateTime()),
    ).where(_products.c.id == bindparam("product")),
)  # fmt: skip


async def add_promo_code(
    *, connection: AsyncConnection, cart_id: int, member_id: str, code: str, now: datetime
) -> bool:
    """Take the code and add its line to the member's open cart; False when
    the code or the cart does not allow it (nothing written); CodeLimitReached
    past the campaign's limit per member (the caller's transaction must roll
    the code back)."""
    taken = (
        await connection.execute(
            _TAKE, {"typed": code, "member": member_id, "cart": cart_id, "now": now}
        )
    ).first()
    if taken is None:
        return False
    code_id, campaign_id, product_id, limit = taken
    if limit is not None:
        # The cart's lock is held: another activation of this member waits
        # for this transaction, and this count sees any it follows.
        held = await connection.scalar(
            select(func.count())
            .select_from(_codes)
            .where(_codes.c.campaign_id == campaign_id, _codes.c.used_by == member_id)
        )
        if held > limit:
            raise CodeLimitReached(f"At most {limit} codes of this campaign per member.")
    await connection.execute(
        _ADD_PROMO_LINE, {"cart": cart_id, "product": product_id, "code_id": code_id, "at": now}
    )
    return True


async def holds_code(*, connection: AsyncConnection, cart_id: int, code: str) -> bool:
    """Whether the cart has a line for this promo code."""
    found = await connection.execute(
        select(_lines.c.id)
        .join(_codes, _codes.c.id == _lines.c.promo_code_id)
        .where(_lines.c.cart_id == cart_id, _codes.c.code == code)
    )
    return found.first() is not None


async def is_open_cart_of(*, connection: AsyncConnection, cart_id: int, member_id: str) -> bool:
    found = await connection.execute(
        select(_carts.c.id).where(
            _carts.c.id == cart_id,
            _carts.c.owner_id == member_id,
            _carts.c.state == CartState.OPEN.value,
        )
    )
    return found.first() is not None


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


# --- lines leaving a cart: the member's choice, or a code held too long ---------------


async def remove_line(*, session: AsyncSession, cart: Cart, line_id: int) -> None:
    """A line out of the (locked, open) cart; its promo code unused again."""
    line = await session.scalar(
        select(CartLine).where(CartLine.id == line_id, CartLine.cart_id == cart.id)
    )
    if line is None:
        raise CartLineNotFound(f"No line {line_id} in cart {cart.id}.")
    await _drop_lines(session, [(line.id, line.promo_code_id)])


async def _drop_lines(session: AsyncSession, lines: list[tuple[int, int | None]]) -> None:
    await session.execute(delete(CartLine).where(CartLine.id.in_([line for line, _ in lines])))
    freed = [code for _, code in lines if code is not None]
    if freed:
        await session.execute(
            update(PromoCode).where(PromoCode.id.in_(freed)).values(used_by=None, activated_at=None)
        )


def _held_lines(campaign_id: uuid.UUID):
    """Lines of the campaign's codes in carts not validated yet."""
    return (
        select(CartLine.id, CartLine.promo_code_id, CartLine.created_at)
        .join(PromoCode, PromoCode.id == CartLine.promo_code_id)
        .join(Cart, Cart.id == CartLine.cart_id)
        .where(PromoCode.campaign_id == campaign_id, Cart.state == CartState.OPEN.value)
    )


async def release_held_codes(
    *, session: AsyncSession, campaign_id: uuid.UUID, held_since: datetime, limit: int
) -> int:
    """Up to `limit` of the campaign's codes activated at or before
    `held_since` into carts still open: their lines leave the carts, the
    codes are unused again. The carts are locked first, so a validation
    waits for the release (or the release skips a cart validated meanwhile)."""
    stale = _held_lines(campaign_id).where(CartLine.created_at <= held_since).limit(limit)
    cart_ids = select(CartLine.cart_id).where(CartLine.id.in_(stale.with_only_columns(CartLine.id)))
    await session.execute(
        select(Cart.id)
        .where(Cart.id.in_(cart_ids), Cart.state == CartState.OPEN.value)
        .order_by(Cart.id)
        .with_for_update()
    )
    lines = [(line, code) for line, code, _ in await session.execute(stale)]
    if lines:
        await _drop_lines(session, lines)
    return len(lines)


async def first_held_at(*, session: AsyncSession, campaign_id: uuid.UUID) -> datetime | None:
    """When the oldest of the campaign's codes still held in an open cart was activated."""
    query = _held_lines(campaign_id).with_only_columns(func.min(CartLine.created_at))
    return await session.scalar(query)
