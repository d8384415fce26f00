"""Member-site routes (v2), drop-in compatible with the existing e-venement
client: same paths, same bodies, same sentences.

The activation route answers every outcome as `{"code", "message", "errors"}`,
as that client expects, rather than in the API's usual error shape."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from api.auth import Claims, Unauthenticated, decode_token
from api.deps import CurrentUser, ReadSessionDep, SessionDep, ensure_user
from api.errors import ERROR_RESPONSES
from api.pagination import Page, PageDep, build_page
from api.schemas.carts import (
    ActivationIn,
    Answer,
    CartItemOut,
    CartOut,
    MembershipOut,
    SelectPaymentIn,
    SelectPaymentOut,
)
from domain import codes
from domain.carts import (
    ACTIVATION_FAILED,
    ACTIVATION_SUCCEEDED,
    CART_NOT_FOUND,
    LOGIN_REQUIRED,
    NOTHING_TO_PAY,
    TOO_MANY_ATTEMPTS,
    CartNotFound,
    CartState,
    Tariff,
)
from domain.errors import RateLimited
from domain.promo_codes import Activated, ActivationRefusal
from services import carts as cart_services
from services.carts import MAX_CART_ID

router = APIRouter(prefix="/api/v2", tags=["member site"], responses=ERROR_RESPONSES)
memberships_router = APIRouter(
    prefix="/api/v1/memberships", tags=["memberships"], responses=ERROR_RESPONSES
)

ANSWERS: dict[int | str, dict[str, Any]] = {
    status: {"model": Answer, "description": description}
    for status, description in {
        400: "Activation Failed: `Invalid code` or `Expired code`",
        401: LOGIN_REQUIRED,
        404: "not the caller's cart, or not open",
        429: "too many attempts (per member and per client IP), with Retry-After",
    }.items()
}


def _answer(status: int, message: str, errors: list[str] | None = None, **headers: str):
    body = Answer(code=status, message=message, errors=errors or [])
    return JSONResponse(body.model_dump(), status_code=status, headers=headers or None)


def _failed(refusal: ActivationRefusal = ActivationRefusal.INVALID) -> JSONResponse:
    return _answer(400, ACTIVATION_FAILED, [refusal.value])


def cart_out(cart, views) -> CartOut:
    items = [
        CartItemOut(
            id=view.line.id,
            product_id=view.line.product_id,
            product_title=view.product_title,
            product_type=view.product_type,
            tariff=Tariff(view.line.tariff),
            unit_price=view.line.unit_price,
            list_price=view.line.list_price,
            currency=view.line.currency,
            promocode=view.promocode,
        )
        for view in views
    ]
    total = sum((item.unit_price for item in items), Decimal("0.00"))
    return CartOut(id=cart.id, state=CartState(cart.state), items=items, total=total)


@router.get("/carts", summary="My open cart (created if I have none)")
async def my_cart(user: CurrentUser, session: SessionDep) -> CartOut:
    cart, views = await cart_services.open_cart(session=session, owner_id=user.sub)
    return cart_out(cart, views)


def _member(request: Request) -> Claims | None:
    """The caller, or None when not (validly) identified: this route answers
    that in its own shape, not the API's usual 401."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        return None
    settings = request.app.state.settings
    try:
        return decode_token(token=token, settings=settings)
    except Unauthenticated:
        return None


async def _within_limits(request: Request, member: Claims) -> None:
    """Per client IP (a campus shares one address) and per member: brute force
    from one account, or from one machine over many accounts, hits a 429."""
    limiter, settings = request.app.state.rate_limiter, request.app.state.settings
    client = request.client.host if request.client else "unknown"
    await limiter.check(
        limit=settings.promo_activation_rate_limit_ip, scope="promo-activation-ip", key=client
    )
    await limiter.check(
        limit=settings.promo_activation_rate_limit_user,
        scope="promo-activation-user",
        key=member.sub,
    )


async def _typed_code(request: Request) -> list[str] | None:
    """The codes the member may have meant (exact first), or None for a body
    that holds nothing a code could be."""
    try:
        typed = ActivationIn.model_validate(await request.json()).promocode
    except (ValueError, ValidationError):
        return None
    meant = codes.candidates(typed)
    return meant if codes.is_plausible(meant[0]) else None


@router.post(
    "/carts/{cart_id}/promocodes/activate",
    summary="Activate a promo code into my cart",
    description="The code's membership joins the cart at the `promo_code` tariff, 0.00. "
    "However many requests race for one code, exactly one succeeds.",
    response_model=Answer,
    responses=ANSWERS,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": ActivationIn.model_json_schema()}},
        }
    },
)
async def activate_code(cart_id: str, request: Request) -> JSONResponse:
    member = _member(request)
    if member is None:
        return _answer(401, LOGIN_REQUIRED)
    try:
        await _within_limits(request, member)
    except RateLimited as limited:
        _count(request, "rate_limited")
        return _answer(429, TOO_MANY_ATTEMPTS, [TOO_MANY_ATTEMPTS], **_retry(limited))
    meant = await _typed_code(request)
    if meant is None:
        # Nothing a code of any format could be: refused before any lookup.
        _count(request, "malformed")
        return _failed()
    await ensure_user(request, member)
    try:
        outcome = await cart_services.activate_code(
            engine=request.app.state.engine, cart_id=cart_id, member_id=member.sub, meant=meant
        )
    except CartNotFound:
        return _answer(404, CART_NOT_FOUND, [CART_NOT_FOUND])
    if isinstance(outcome, Activated):
        _count(request, outcome.value)
        return _answer(200, ACTIVATION_SUCCEEDED)
    _count(request, outcome.name.lower())
    return _failed(outcome)


def _count(request: Request, outcome: str) -> None:
    request.app.state.metrics.promo_activations.labels(outcome).inc()


def _retry(limited: RateLimited) -> dict[str, str]:
    return {"Retry-After": str(limited.retry_after)}


@router.post(
    "/checkouts/select-payment/{cart_id}",
    summary="Choose how to pay my cart",
    description='For a cart of 0.00: `{"methods": "NothingToPay", "cart": …}`; the cart '
    "is validated, its memberships activate and the cash book records each code. Asking "
    "again answers the same. 409 `payment_required` when there is something to pay (paid "
    "memberships are not sold here yet), 409 `cart_empty` for an empty cart.",
)
async def select_payment(
    cart_id: Annotated[int, Path(ge=1, le=MAX_CART_ID)],
    user: CurrentUser,
    session: SessionDep,
    body: Annotated[SelectPaymentIn | None, Body()] = None,
) -> SelectPaymentOut:
    cart, views = await cart_services.select_payment(
        session=session, cart_id=cart_id, owner_id=user.sub
    )
    return SelectPaymentOut(methods=NOTHING_TO_PAY, cart=cart_out(cart, views))


@router.delete(
    "/carts/{cart_id}/items/{line_id}",
    summary="Remove a line from my open cart",
    description="The cart as it is after; a promo code the line held is unused again. "
    "404 `cart_not_found` / `cart_line_not_found`, 409 `cart_validated` once validated.",
)
async def remove_line(
    cart_id: Annotated[int, Path(ge=1, le=MAX_CART_ID)],
    line_id: Annotated[int, Path(ge=1, le=MAX_CART_ID)],
    user: CurrentUser,
    session: SessionDep,
) -> CartOut:
    cart, views = await cart_services.remove_line(
        session=session, cart_id=cart_id, line_id=line_id, owner_id=user.sub
    )
    return cart_out(cart, views)


@memberships_router.get("", summary="List my memberships")
async def list_memberships(
    request: Request, user: CurrentUser, session: ReadSessionDep, params: PageDep
) -> Page[MembershipOut]:
    """What my validated carts gave me (a promo code's membership among
    them), newest first."""
    count, found = await cart_services.memberships_of(
        session=session, user_id=user.sub, offset=params.offset, limit=params.page_size
    )
    results = [
        MembershipOut(
            id=view.membership.id,
            product_id=view.membership.product_id,
            product_title=view.product_title,
            active=view.membership.active,
            activated_at=view.membership.activated_at,
            promocode=view.promocode,
            campaign=view.campaign_name,
        )
        for view in found
    ]
    return build_page(request=request, params=params, count=count, results=results)
