"""Payment provider webhooks: verified by the configured backend, stored
once, signalled to the order.

The debit activity already learns each verdict when it confirms a charge;
these events wake a debit the provider confirms later, mirror a refund made
at the provider, and tell an academy checkout it is paid.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path as FilePath
from typing import Annotated, Literal
from urllib.parse import parse_qs

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from api.deps import ReadSessionDep, SessionDep, SettingsDep, TemporalDep
from api.errors import HTML_ROUTE_ERROR_RESPONSES, WEBHOOK_RESPONSES
from api.observability import timed_webhook
from services import payments

router = APIRouter(prefix="/api/v1/webhooks", tags=["webhooks"], responses=WEBHOOK_RESPONSES)
dummy_router = APIRouter(
    prefix="/api/v1/dummy-payments",
    tags=["dummy payments"],
    responses=HTML_ROUTE_ERROR_RESPONSES,
)
_pages = Environment(
    loader=FileSystemLoader(FilePath(__file__).resolve().parents[2] / "templates"),
    autoescape=select_autoescape(["html"]),
)

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
    started = time.perf_counter()
    status = await payments.receive_webhook(
        session=session,
        temporal=temporal,
        settings=settings,
        provider=request.app.state.payment_provider,
        backend=backend,
        body=await request.body(),
        headers=request.headers,
    )
    timed_webhook(request, backend, started)
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


# --- the dummy provider's hosted checkout (academy subscriptions) ---------------------
# Declared before the challenge pages: `/{kind}/{reference}` would take its path.


def _checkout_page(checkout, key: str, message: str | None = None) -> HTMLResponse:
    html = _pages.get_template("dummy_checkout.html").render(
        checkout=checkout, key=key, message=message
    )
    return HTMLResponse(html)


@dummy_router.get(
    "/checkout/{intent_id}",
    summary="The dummy checkout page of an academy subscription",
    response_class=HTMLResponse,
)
async def dummy_checkout_page(
    intent_id: uuid.UUID,
    request: Request,
    session: ReadSessionDep,
    settings: SettingsDep,
    key: str = "",
) -> HTMLResponse:
    """For whoever holds the intent's `checkout_url` (`key`); another is a 404."""
    checkout = await payments.dummy_checkout_of(
        session=session,
        provider=request.app.state.payment_provider,
        settings=settings,
        intent_id=intent_id,
        key=key,
    )
    return _checkout_page(checkout, key)


@dummy_router.post(
    "/checkout/{intent_id}",
    summary="Pay (or leave) on the dummy checkout page",
    description="Paying tells Guichet what Stripe would (`checkout.session.completed`, then "
    "the first `invoice.paid`), through the same receiver as the webhooks: the intent is "
    "fulfilled and the subscription active. Paying twice changes nothing.",
    response_class=HTMLResponse,
)
async def dummy_checkout_answer(
    intent_id: uuid.UUID,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    temporal: TemporalDep,
) -> HTMLResponse:
    form = parse_qs((await request.body()).decode(errors="replace"))
    key = form.get("key", [""])[0]
    checkout, message = await payments.answer_dummy_checkout(
        session=session,
        temporal=temporal,
        settings=settings,
        provider=request.app.state.payment_provider,
        intent_id=intent_id,
        key=key,
        action=form.get("action", [""])[0],
    )
    return _checkout_page(checkout, key, message=message)


# --- the dummy bank's challenge (3-D Secure) -------------------------------------------

ChallengeKind = Literal["setups", "charges"]


async def _challenge_page(
    request: Request, kind: ChallengeKind, reference: str, key: str, message: str | None = None
) -> HTMLResponse:
    challenge = await payments.dummy_challenge_of(
        provider=request.app.state.payment_provider,
        page=payments.CHALLENGE_PAGES[kind],
        reference=reference,
        key=key,
    )
    html = _pages.get_template("dummy_payment_challenge.html").render(
        challenge=challenge, is_charge=kind == "charges", key=key, message=message
    )
    return HTMLResponse(html)


@dummy_router.get(
    "/{kind}/{reference}",
    summary="The dummy bank's challenge for a card setup or a charge",
    response_class=HTMLResponse,
)
async def dummy_challenge_page(
    kind: ChallengeKind,
    reference: Annotated[str, Path(max_length=255)],
    request: Request,
    key: str = "",
) -> HTMLResponse:
    """For whoever holds the `next_action_url` (`key`); another is a 404."""
    return await _challenge_page(request, kind, reference, key)


@dummy_router.post(
    "/{kind}/{reference}",
    summary="Authenticate or fail on the dummy bank's challenge",
    response_class=HTMLResponse,
)
async def dummy_challenge_answer(
    kind: ChallengeKind,
    reference: Annotated[str, Path(max_length=255)],
    request: Request,
    session: ReadSessionDep,
    settings: SettingsDep,
    temporal: TemporalDep,
) -> HTMLResponse:
    form = parse_qs((await request.body()).decode(errors="replace"))
    key = form.get("key", [""])[0]
    message = await payments.dummy_challenge(
        provider=request.app.state.payment_provider,
        temporal=temporal,
        session=session,
        settings=settings,
        page=payments.CHALLENGE_PAGES[kind],
        reference=reference,
        key=key,
        action=form.get("action", [""])[0],
    )
    return await _challenge_page(request, kind, reference, key, message=message)
