"""Payment provider webhooks: verified, stored once, signalled to the order.

The debit activity already learns each verdict when it confirms a charge;
these events wake a debit the provider confirms later, and mirror a refund
made at the provider.
"""

from __future__ import annotations

import json
import logging
import uuid

from fastapi import APIRouter, Request
from sqlalchemy import Row, select
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy

from api.deps import SIGNAL_BUDGET, SettingsDep, TemporalDep, signal_if_running, workflow_call
from api.errors import WEBHOOK_RESPONSES
from api.routers.orders import refund_run_input
from domain.academies import IntentPaid, intent_workflow_id
from domain.errors import NotFound, error_class
from domain.orders import PaymentNews
from integrations.payments import stripe as stripe_payments
from integrations.payments.base import PaymentEvent
from models import inbound_events
from models.orders import Installment
from settings import Settings
from workflows.academy import CheckoutIntentWorkflow
from workflows.order import SIGNAL_PAYMENT_UPDATED, OrderWorkflow
from workflows.order import workflow_id as order_workflow_id

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/api/v1/webhooks", tags=["webhooks"], responses=WEBHOOK_RESPONSES)

StripeWebhooksOff = error_class(NotFound, "stripe_webhooks_disabled")


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
    request: Request, settings: SettingsDep, temporal: TemporalDep
) -> dict[str, str]:
    secret = settings.stripe_webhook_secret.get_secret_value()
    if not secret:
        raise StripeWebhooksOff("Stripe webhooks are not configured here.")
    body = await request.body()
    event = stripe_payments.parse_webhook(
        body=body, signature=request.headers.get("stripe-signature", ""), secret=secret
    )
    # Stored and signalled in one transaction: if Temporal cannot take the
    # signal, nothing is kept and Stripe's redelivery gets another chance.
    async with request.app.state.sessionmaker.begin() as session:
        is_new = await inbound_events.store_once(
            session=session, source="stripe", event_id=event.event_id, payload=json.loads(body)
        )
        if not is_new:
            return {"status": "duplicate"}
        if event.checkout_intent_id is not None:
            return await _signal_checkout(temporal, event)
        paid_by = await _installment_paid_by(session, event.charge_reference)
        if paid_by is None:
            return {"status": "ignored"}
        news = PaymentNews(
            installment_id=paid_by.id, event=event.type, refund_reference=event.refund_reference
        )
        if news.refund_reference is not None:
            await _signal_refund(temporal, settings, paid_by.order_id, news)
            return {"status": "accepted"}
        handle = temporal.get_workflow_handle(order_workflow_id(paid_by.order_id))
        if not await signal_if_running(handle, OrderWorkflow.payment_updated, news):
            # The order's workflow is over: its debits were all recorded already.
            logger.info("stripe webhook after the order's workflow ended")
        return {"status": "accepted"}


async def _signal_refund(
    temporal: Client, settings: Settings, order_id: uuid.UUID, news: PaymentNews
) -> None:
    """A refund made in Stripe's dashboard, most often long after the order
    completed: to its running workflow, or to a run started again for it
    (found by tests/reliability/test_stripe_redelivery.py: such refunds were
    dropped once the order's workflow had ended)."""
    await workflow_call(
        temporal.start_workflow(
            OrderWorkflow.run,
            refund_run_input(order_id, settings),
            id=order_workflow_id(order_id),
            task_queue=settings.task_queue,
            start_signal=SIGNAL_PAYMENT_UPDATED,
            start_signal_args=[news],
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        ),
        within=SIGNAL_BUDGET,
    )


async def _installment_paid_by(session: AsyncSession, charge_reference: str | None) -> Row | None:
    """(id, order_id) of the installment this charge pays, if it is one of ours."""
    if charge_reference is None:
        return None
    query = select(Installment.id, Installment.order_id).where(
        Installment.charge_reference == charge_reference
    )
    return (await session.execute(query)).one_or_none()


async def _signal_checkout(temporal: Client, event: PaymentEvent) -> dict[str, str]:
    """An academy checkout paid: its intent's workflow fulfils it."""
    news = IntentPaid(
        event=event.type,
        checkout_session_id=event.checkout_session_id,
        customer_id=event.customer_id,
    )
    handle = temporal.get_workflow_handle(intent_workflow_id(event.checkout_intent_id))
    if not await signal_if_running(handle, CheckoutIntentWorkflow.paid, news):
        logger.info("stripe checkout webhook for no running checkout intent")
        return {"status": "ignored"}
    return {"status": "accepted"}
