"""Payment provider webhooks: verified by the configured backend, stored
once, signalled to the order.

The debit activity already learns each verdict when it confirms a charge;
these events wake a debit the provider confirms later, mirror a refund made
at the provider, and tell an academy checkout it is paid.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request

from api.deps import SessionDep, SettingsDep, TemporalDep
from api.errors import WEBHOOK_RESPONSES
from services import payments

router = APIRouter(prefix="/api/v1/webhooks", tags=["webhooks"], responses=WEBHOOK_RESPONSES)

DESCRIPTION = (
    "Verified by the backend (Stripe: the endpoint's signing secret, stale events are replays "
    "and refused; dummy: `x-guichet-signature`), stored once per event id, then signalled to "
    "the order whose installment the charge pays (or the academy checkout). 200 once stored, "
    "also for events about nothing Guichet tracks; 401 if not authentic, 400 if unreadable, "
    "404 `unknown_payment_backend` for a backend not configured here and "
    "`payment_webhooks_disabled` when it has no webhook secret, 503/504 when the workflow "
    "service cannot take the news (nothing is stored: the provider delivers it again)."
)


async def _receive(
    *,
    request: Request,
    backend: str,
    session: SessionDep,
    settings: SettingsDep,
    temporal: TemporalDep,
) -> dict[str, str]:
    status = await payments.receive_webhook(
        session=session,
        temporal=temporal,
        settings=settings,
        provider=request.app.state.payment_provider,
        backend=backend,
        body=await request.body(),
        headers=request.headers,
    )
    return {"status": status}


@router.post(
    "/payments/{backend}", summary="Payment provider notifications", description=DESCRIPTION
)
async def payment_webhook(
    backend: Annotated[str, Path(max_length=40)],
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    temporal: TemporalDep,
) -> dict[str, str]:
    return await _receive(
        request=request, backend=backend, session=session, settings=settings, temporal=temporal
    )


@router.post(
    "/stripe",
    summary="Stripe notifications",
    description="The same as `/api/v1/webhooks/payments/stripe`, where Stripe endpoints "
    "configured before it exist.",
)
async def stripe_webhook(
    request: Request, session: SessionDep, settings: SettingsDep, temporal: TemporalDep
) -> dict[str, str]:
    return await _receive(
        request=request, backend="stripe", session=session, settings=settings, temporal=temporal
    )
