"""A learner's academy subscriptions, and cancelling one at its period end."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request

from api.auth import Role
from api.deps import CurrentUser, ReadSessionDep, SessionDep
from api.errors import ERROR_RESPONSES
from api.pagination import Page, PageDep, build_page
from api.routers.academies import public_id
from api.schemas.subscriptions import SubscribedAcademy, SubscriptionOut
from services import subscriptions as subscription_services

router = APIRouter(
    prefix="/api/v1/subscriptions", tags=["subscriptions"], responses=ERROR_RESPONSES
)


def subscription_out(view) -> SubscriptionOut:
    row, academy = view.subscription, view.academy
    return SubscriptionOut(
        id=row.id,
        academy=SubscribedAcademy(id=academy.id, name=academy.name, product_id=public_id(academy)),
        status=row.status,
        is_active=row.is_active,
        current_period_end=row.current_period_end,
        cancel_at=row.cancel_at,
        canceled_at=row.canceled_at,
        checkout_intent_id=row.checkout_intent_id,
        created_at=row.created_at,
    )


@router.get("", summary="List my academy subscriptions")
async def list_subscriptions(
    request: Request, user: CurrentUser, session: ReadSessionDep, params: PageDep
) -> Page[SubscriptionOut]:
    """Newest first, as the payment provider's events left them."""
    count, found = await subscription_services.of_user(
        session=session, user_id=user.sub, offset=params.offset, limit=params.page_size
    )
    results = [subscription_out(view) for view in found]
    return build_page(request=request, params=params, count=count, results=results)


@router.post(
    "/{subscription_id}/cancel",
    summary="Cancel a subscription at the end of its period",
    description="The learner keeps the academy until `cancel_at` (the end of the period "
    "paid); nothing more is charged. Asking again answers the same. 404 "
    "`subscription_not_found` for another learner's, 409 `subscription_not_active` once it "
    "is over, 503 `payment_provider_unavailable` when the provider cannot be reached "
    "(nothing changed: retry).",
)
async def cancel_subscription(
    subscription_id: uuid.UUID, request: Request, user: CurrentUser, session: SessionDep
) -> SubscriptionOut:
    owner = None if user.has_any_role(Role.ADMIN) else user.sub
    view = await subscription_services.cancel(
        session=session,
        provider=request.app.state.payment_provider,
        subscription_id=subscription_id,
        user_id=owner,
    )
    return subscription_out(view)
