"""Payment provider events: verified by the caller, stored once here, then
told to the workflow they concern (an order's debit or refund, an academy
checkout). Stored and signalled in one transaction: if Temporal cannot take
the signal, nothing is kept and the provider's redelivery gets another chance."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client

from domain.academies import IntentState, intent_workflow_id
from domain.errors import NotFound, error_class
from domain.orders import PaymentNews
from integrations.payloads import strict_json
from integrations.payments import dummy_checkout
from integrations.payments.base import (
    PaymentEvent,
    PaymentEventKind,
    PaymentProvider,
    intent_paid,
)
from integrations.payments.dummy import (
    DUMMY_CHARGE_PAGE,
    DUMMY_SETUP_PAGE,
    DummyCharge,
    DummyPaymentProvider,
    SetupNotFound,
)
from models import academies, inbound_events
from models.academies import Academy, AcademyPrice, CheckoutIntent
from models.base import utcnow
from models.orders import Installment
from services import orders, subscriptions, workflows
from services.signatures import UnknownAction
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
    if event.subscription is not None or event.pays_checkout:
        return await _academy_news(session, temporal, settings, event)
    if event.kind is PaymentEventKind.SETUP_SUCCEEDED:
        return await _card_setup_succeeded(temporal, event)
    told = await _tell_installment(
        session,
        temporal,
        settings,
        charge_reference=event.charge_reference,
        event=event.type,
        refund_reference=event.refund_reference,
    )
    return "accepted" if told else "ignored"


async def _tell_installment(
    session: AsyncSession,
    temporal: Client,
    settings: Settings,
    *,
    charge_reference: str | None,
    event: str,
    refund_reference: str | None = None,
) -> bool:
    """News of a charge, to the order whose installment it pays; False when
    it pays none of ours (any more: a withdrawn charge)."""
    paid_by = await _installment_paid_by(session, charge_reference)
    if paid_by is None:
        return False
    news = PaymentNews(installment_id=paid_by.id, event=event, refund_reference=refund_reference)
    await orders.payment_news(
        temporal=temporal, settings=settings, order_id=paid_by.order_id, news=news
    )
    return True


async def _card_setup_succeeded(temporal: Client, event: PaymentEvent) -> str:
    """A card setup made for an order succeeded: the order saves its card."""
    try:
        order_id = uuid.UUID(event.order_id or "")
    except ValueError:
        return "ignored"  # a setup Guichet did not make
    assert event.setup_reference is not None
    running = await orders.card_setup_succeeded(
        temporal=temporal, order_id=order_id, setup_reference=event.setup_reference
    )
    return "accepted" if running else "ignored"


async def _installment_paid_by(session: AsyncSession, charge_reference: str | None) -> Row | None:
    """(id, order_id) of the installment this charge pays, if it is one of ours."""
    if charge_reference is None:
        return None
    query = select(Installment.id, Installment.order_id).where(
        Installment.charge_reference == charge_reference
    )
    return (await session.execute(query)).one_or_none()


async def _academy_news(
    session: AsyncSession, temporal: Client, settings: Settings, event: PaymentEvent
) -> str:
    """An academy subscription's event folded into it, and a checkout it
    pays told to its intent's workflow (which fulfils it)."""
    applied = event.subscription is not None and await subscriptions.receive_news(
        session=session, temporal=temporal, settings=settings, news=event.subscription
    )
    told = event.pays_checkout and await _checkout_paid(temporal, event)
    return "accepted" if applied or told else "ignored"


async def _checkout_paid(temporal: Client, event: PaymentEvent) -> bool:
    assert event.checkout_intent_id is not None
    running = await workflows.signal(
        temporal=temporal,
        workflow_id=intent_workflow_id(event.checkout_intent_id),
        signal=CheckoutIntentWorkflow.paid,
        argument=intent_paid(event),
        within=workflows.SIGNAL_BUDGET,
    )
    if not running:
        logger.info("checkout paid for no running checkout intent")
    return running


# --- the dummy provider's bank challenge ------------------------------------------------


# The dummy bank's challenge pages, by the path segment that serves them.
CHALLENGE_PAGES = {"setups": DUMMY_SETUP_PAGE, "charges": DUMMY_CHARGE_PAGE}


def _dummy(provider: PaymentProvider) -> DummyPaymentProvider:
    if not isinstance(provider, DummyPaymentProvider):
        raise UnknownPaymentBackend("The dummy payment pages are off (another backend is in use).")
    return provider


async def dummy_challenge_of(
    *, provider: PaymentProvider, page: str, reference: str, key: str
) -> DummyCharge:
    """The card setup or charge the dummy bank's challenge page shows (404
    for a wrong key)."""
    return await _dummy(provider).challenged(page=page, reference=reference, key=key)


async def dummy_challenge(
    *,
    provider: PaymentProvider,
    temporal: Client,
    session: AsyncSession,
    settings: Settings,
    page: str,
    reference: str,
    key: str,
    action: str,
) -> str:
    """The learner passes or fails the bank's challenge, and the order hears
    of it as it would from Stripe's webhook: a setup that succeeded saves the
    card, a charge's answer wakes the debit waiting for it. What the page says."""
    if action not in ("authenticate", "fail"):
        raise UnknownAction(f"Unknown action {action!r}: authenticate or fail.")
    challenge = await _dummy(provider).answer_challenge(
        page=page, reference=reference, key=key, authenticated=action == "authenticate"
    )
    if page == DUMMY_CHARGE_PAGE:
        await _tell_installment(
            session,
            temporal,
            settings,
            charge_reference=reference,
            event=f"dummy.charge_{action}",
        )
        return (
            "Authenticated: the payment goes through."
            if action == "authenticate"
            else "Authentication failed: nothing was debited."
        )
    if action == "fail":
        return "Authentication failed: the card is not saved."
    assert challenge.order_id is not None
    await orders.card_setup_succeeded(
        temporal=temporal, order_id=uuid.UUID(challenge.order_id), setup_reference=reference
    )
    return "Authenticated: the card is saved for your order."


# --- the dummy provider's hosted checkout (academy subscriptions) ---------------------


@dataclass(frozen=True)
class DummyCheckout:
    intent: CheckoutIntent
    academy: Academy
    price: AcademyPrice | None
    # Where the learner goes back: the front end's success page once paid.
    back_url: str


async def dummy_checkout_of(
    *,
    session: AsyncSession,
    provider: PaymentProvider,
    settings: Settings,
    intent_id: uuid.UUID,
    key: str,
    paid: bool = False,
) -> DummyCheckout:
    """The checkout the page shows, for whoever holds its link (404 otherwise)."""
    page = dummy_checkout.DUMMY_CHECKOUT_PAGE
    if not _dummy(provider).check_page_key(page=page, reference=str(intent_id), key=key):
        raise SetupNotFound("No such checkout.")
    intent = await academies.get_intent(session=session, id=intent_id)
    academy, price = await academies.academy_with_price(session=session, id=intent.academy_id)
    page_name = "frontend_checkout_success_page" if paid else "frontend_checkout_cancel_page"
    back = settings.frontend_page(page_name, intent_id=intent_id)
    return DummyCheckout(intent=intent, academy=academy, price=price, back_url=back)


async def answer_dummy_checkout(
    *,
    session: AsyncSession,
    temporal: Client,
    settings: Settings,
    provider: PaymentProvider,
    intent_id: uuid.UUID,
    key: str,
    action: str,
) -> tuple[DummyCheckout, str]:
    """The learner pays (or leaves): paying tells Guichet what Stripe would,
    through the same receiver as its webhooks. The page, and what it says."""
    if action not in ("pay", "cancel"):
        raise UnknownAction(f"Unknown action {action!r}: pay or cancel.")
    checkout = await dummy_checkout_of(
        session=session,
        provider=provider,
        settings=settings,
        intent_id=intent_id,
        key=key,
        paid=action == "pay",
    )
    if action == "cancel":
        return checkout, "Canceled: nothing was charged. You may come back until it expires."
    if checkout.intent.state != IntentState.CREATED.value or checkout.price is None:
        return checkout, f"Nothing to pay: this checkout is {checkout.intent.state}."
    for event in _dummy_paid_events(checkout):
        await receive(
            session=session,
            temporal=temporal,
            settings=settings,
            source=provider.name,
            event=event,
            payload=event.model_dump(mode="json"),
        )
    return checkout, "Paid: your subscription is active."


def _dummy_paid_events(checkout: DummyCheckout) -> list[PaymentEvent]:
    price = checkout.price
    assert price is not None and price.unit_amount is not None
    return dummy_checkout.paid_events(
        intent_id=str(checkout.intent.id),
        user_id=checkout.intent.user_id,
        amount=Decimal(price.unit_amount).scaleb(-2),
        currency=price.currency,
        interval=str((price.recurring or {}).get("interval") or "month"),
        now=utcnow(),
    )
