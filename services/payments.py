"""Payment provider events: verified by the caller, stored once here, then
told to the workflow they concern (an order's debit or refund, an academy
checkout). Stored and signalled in one transaction: if Temporal cannot take
the signal, nothing is kept and the provider's redelivery gets another chance."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client

from domain.academies import IntentPaid, intent_workflow_id
from domain.errors import NotFound, error_class
from domain.orders import PaymentNews
from integrations.payloads import strict_json
from integrations.payments.base import PaymentEvent, PaymentProvider
from models import inbound_events
from models.orders import Installment
from services import orders, workflows
from settings import Settings
from workflows.academy import CheckoutIntentWorkflow

logger = logging.getLogger(__name__)

UnknownPaymentBackend = error_class(NotFound, "unknown_payment_backend")


async def receive_webhook(
    *,
    session: AsyncSession,
    temporal: Client,
    settings: Settings,
    provider: PaymentProvider,
    backend: str,
    body: bytes,
    headers: Mapping[str, str],
) -> str:
    """A provider's webhook as it came: verified by the configured backend
    (another backend's path is a 404), then received."""
    if backend != provider.name:
        raise UnknownPaymentBackend(f"No payment backend {backend!r} here.")
    event = provider.parse_webhook(body=body, headers=headers)
    return await receive(
        session=session,
        temporal=temporal,
        settings=settings,
        source=provider.name,
        event=event,
        payload=strict_json(body),
    )


async def receive(
    *,
    session: AsyncSession,
    temporal: Client,
    settings: Settings,
    source: str,
    event: PaymentEvent,
    payload: Any,
) -> str:
    """`duplicate`, `ignored` (about nothing Guichet tracks) or `accepted`."""
    is_new = await inbound_events.store_once(
        session=session, source=source, event_id=event.event_id, payload=payload
    )
    if not is_new:
        return "duplicate"
    if event.checkout_intent_id is not None:
        return await _checkout_paid(temporal, event)
    paid_by = await _installment_paid_by(session, event.charge_reference)
    if paid_by is None:
        return "ignored"
    news = PaymentNews(
        installment_id=paid_by.id, event=event.type, refund_reference=event.refund_reference
    )
    await orders.payment_news(
        temporal=temporal, settings=settings, order_id=paid_by.order_id, news=news
    )
    return "accepted"


async def _installment_paid_by(session: AsyncSession, charge_reference: str | None) -> Row | None:
    """(id, order_id) of the installment this charge pays, if it is one of ours."""
    if charge_reference is None:
        return None
    query = select(Installment.id, Installment.order_id).where(
        Installment.charge_reference == charge_reference
    )
    return (await session.execute(query)).one_or_none()


async def _checkout_paid(temporal: Client, event: PaymentEvent) -> str:
    """An academy checkout paid: its intent's workflow fulfils it."""
    assert event.checkout_intent_id is not None
    news = IntentPaid(
        event=event.type,
        checkout_session_id=event.checkout_session_id,
        customer_id=event.customer_id,
    )
    running = await workflows.signal(
        temporal=temporal,
        workflow_id=intent_workflow_id(event.checkout_intent_id),
        signal=CheckoutIntentWorkflow.paid,
        argument=news,
        within=workflows.SIGNAL_BUDGET,
    )
    if not running:
        logger.info("stripe checkout webhook for no running checkout intent")
        return "ignored"
    return "accepted"
