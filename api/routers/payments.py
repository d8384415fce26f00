"""Payment provider webhooks: verified, stored once, signalled to the order.

The debit activity already learns each verdict when it confirms a charge;
these events wake a debit the provider confirms later, and mirror a refund
made at the provider.
"""

from __future__ import annotations

from fastapi import APIRouter, Request

from api.deps import SessionDep, SettingsDep, TemporalDep
from api.errors import WEBHOOK_RESPONSES
from services import payments

router = APIRouter(prefix="/api/v1/webhooks", tags=["webhooks"], responses=WEBHOOK_RESPONSES)


@router.post(
    "/stripe",
    summary="Stripe notifications",
    description="Verified with the endpoint's signing secret (stale events are replays and "
    "refused), stored once per event id, then signalled to the order whose installment the "
    "charge pays. 200 once stored, also for events about nothing Guichet tracks; 401 if not "
    "authentic, 400 if unreadable, 404 when no signing secret is configured, 503/504 when the "
    "workflow service cannot take the news (nothing is stored: Stripe delivers it again).",
)
async def stripe_webhook(
    request: Request, session: SessionDep, settings: SettingsDep, temporal: TemporalDep
) -> dict[str, str]:
    status = await payments.receive_stripe(
        session=session,
        temporal=temporal,
        settings=settings,
        body=await request.body(),
        signature=request.headers.get("stripe-signature", ""),
    )
    return {"status": status}
