"""Member carts (plain records, written in the request's transaction): the
open cart, a promo code's activation into it, and its validation when there
is nothing to pay (memberships activated, the cash book written)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from domain.carts import (
    CartEmpty,
    CartNotFound,
    CartState,
    CartValidated,
    PaymentMethod,
    PaymentRequired,
    Tariff,
)
from domain.promo_codes import Activated, ActivationRefusal, ledger_label
from models import accounting, carts, promo_codes
from models.base import utcnow
from models.carts import Cart, LineView

# Carts have integer keys (PostgreSQL `integer`): a larger number is no cart,
# not a query the database refuses with a 500 (found by tests/security/test_fuzz.py).
MAX_CART_ID = 2**31 - 1


async def open_cart(*, session: AsyncSession, owner_id: str) -> tuple[Cart, list[LineView]]:
    """The member's open cart, created if they have none, with its lines."""
    cart = await carts.open_cart(session=session, owner_id=owner_id)
    return cart, await carts.lines(session=session, cart_id=cart.id)


def cart_number(cart_id: str) -> int:
    try:
        number = int(cart_id)
    except ValueError:
        raise CartNotFound(f"No cart {cart_id!r}.") from None
    if not 1 <= number <= MAX_CART_ID:  # the database would refuse to compare it
        raise CartNotFound(f"No cart {cart_id!r}.")
    return number


async def activate_code(
    *, engine: AsyncEngine, cart_id: str, member_id: str, meant: list[str]
) -> Activated | ActivationRefusal:
    """Take the code for the member's open cart and add its line, in one
    transaction of two prebuilt statements (the hot path, bench/activation.py):
    Activated when it is in the cart, else why not; CartNotFound for no open
    cart of theirs. However many requests race for one code, exactly one
    succeeds. `meant`: the code as typed, then as read in Crockford's way
    (codes.candidates); the second is tried only when the first is no free
    code. A member's retry of a code already in this cart of theirs (a
    mobile client retrying on a timeout) succeeds again, adding nothing."""
    cart = cart_number(cart_id)
    try:
        return await _activate(engine=engine, cart=cart, member_id=member_id, meant=meant)
    except carts.CodeLimitReached:
        return ActivationRefusal.LIMIT  # rolled back: the code is free again


async def _activate(
    *, engine: AsyncEngine, cart: int, member_id: str, meant: list[str]
) -> Activated | ActivationRefusal:
    async with engine.begin() as connection:
        now = utcnow()
        for code in meant:
            if await carts.add_promo_code(
                connection=connection, cart_id=cart, member_id=member_id, code=code, now=now
            ):
                return Activated.NOW
        if not await carts.is_open_cart_of(
            connection=connection, cart_id=cart, member_id=member_id
        ):
            raise CartNotFound(f"No open cart {cart}.")
        for code in meant:
            if await carts.holds_code(connection=connection, cart_id=cart, code=code):
                return Activated.ALREADY
        return await promo_codes.why_not(connection=connection, meant=meant, now=now)


async def select_payment(
    *, session: AsyncSession, cart_id: int, owner_id: str
) -> tuple[Cart, list[LineView]]:
    """Validate the member's cart when it has nothing to pay; asking again
    answers the same."""
    cart = await carts.owned_cart(session=session, cart_id=cart_id, owner_id=owner_id, lock=True)
    views = await carts.lines(session=session, cart_id=cart.id)
    if cart.state == CartState.OPEN:
        await _nothing_to_pay(session, cart, views)
    return cart, views


async def _nothing_to_pay(session: AsyncSession, cart: Cart, views: list[LineView]) -> None:
    if not views:
        raise CartEmpty("The cart is empty.")
    if any(view.line.unit_price > 0 for view in views):
        raise PaymentRequired("This cart has something to pay; only free carts are validated here.")
    now = utcnow()
    await carts.validate(session=session, cart=cart, now=now)
    await carts.activate_memberships(session=session, cart=cart, views=views, now=now)
    await accounting.record(
        session=session,
        entries=[
            {
                "at": now,
                "source": f"cart_line:{view.line.id}",
                "cart_id": cart.id,
                "cart_line_id": view.line.id,
                "user_id": cart.owner_id,
                "method": PaymentMethod.PROMO_CODE.value,
                "label": ledger_label(view.campaign_name or ""),
                "amount": view.line.list_price,
                "net_amount": view.line.unit_price,
                "currency": view.line.currency,
            }
            for view in views
            if view.line.tariff == Tariff.PROMO_CODE
        ],
    )


async def remove_line(
    *, session: AsyncSession, cart_id: int, line_id: int, owner_id: str
) -> tuple[Cart, list[LineView]]:
    """A line out of the member's open cart; a promo code it held is unused
    again (anyone may activate it). 404 `cart_line_not_found`, 409
    `cart_validated` once the cart is validated."""
    cart = await carts.owned_cart(session=session, cart_id=cart_id, owner_id=owner_id, lock=True)
    if cart.state != CartState.OPEN:
        raise CartValidated(f"Cart {cart_id} is validated: its lines stay.")
    await carts.remove_line(session=session, cart=cart, line_id=line_id)
    return cart, await carts.lines(session=session, cart_id=cart.id)


async def memberships_of(
    *, session: AsyncSession, user_id: str, offset: int, limit: int
) -> tuple[int, list[carts.MembershipView]]:
    """What the member's validated carts gave them, newest first."""
    return await carts.memberships_of(session=session, user_id=user_id, offset=offset, limit=limit)
