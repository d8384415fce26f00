"""Stripe, through the official SDK (async methods over httpx).

Cards are saved only through a SetupIntent (usage off_session) on the
learner's Customer, never a bare attach: the bank authenticates the learner
once (3-D Secure, PSD2) and later off-session charges carry the mandate.
The front end confirms the SetupIntent with Stripe.js; a card token given to
us directly is confirmed on a SetupIntent here.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import stripe

from domain.errors import MalformedNotification, Unverifiable
from domain.payments import (
    AUTHENTICATION_REQUIRED,
    CardSetup,
    ChargeAction,
    CheckoutRequest,
    CheckoutSession,
    requires_authentication,
)
from domain.subscriptions import (
    CancelAnswer,
    SubscriptionNews,
    SubscriptionNotice,
    SubscriptionStatus,
    status_of,
)
from integrations.payloads import strict_json
from integrations.payments.base import (
    ChargeDeclined,
    ChargePending,
    ChargeRequiresAction,
    ChargeResult,
    CheckoutRefused,
    Customer,
    InvalidPaymentMethod,
    PaymentEvent,
    PaymentEventKind,
    ProviderUnavailable,
    SavedPaymentMethod,
    WebhooksDisabled,
)


class StripePaymentProvider:
    name = "stripe"

    def __init__(
        self, *, api_key: str, api_base: str | None = None, webhook_secret: str = ""
    ) -> None:
        self._webhook_secret = webhook_secret
        self._client = stripe.StripeClient(
            api_key,
            base_addresses={"api": api_base} if api_base else None,
            http_client=stripe.HTTPXClient(),
            max_network_retries=2,
        )

    async def _customer(self, customer: Customer) -> str:
        if customer.reference:
            return customer.reference
        created = await self._client.v1.customers.create_async(
            params={
                "email": customer.email,
                "name": customer.name,
                "metadata": {"guichet_user": customer.id},
            },
            # One Stripe customer per learner even if this call is retried.
            options={"idempotency_key": f"customer:{customer.id}"},
        )
        return created.id

    async def create_setup(
        self, *, customer: Customer, order_id: str, token: str | None
    ) -> CardSetup:
        intent = await self._setup_intent(customer=customer, order_id=order_id, token=token)
        return _setup_of(intent)

    async def saved_from_setup(
        self, *, reference: str, customer: Customer, order_id: str
    ) -> SavedPaymentMethod:
        async with _card_refusals():
            intent = await self._client.v1.setup_intents.retrieve_async(reference)
        metadata = intent.metadata.to_dict() if intent.metadata else {}
        if metadata.get("order_id") != order_id:
            raise InvalidPaymentMethod("No such card setup for this order.")
        return await self._saved(intent)

    async def save_payment_method(
        self, *, token: str, customer: Customer, order_id: str
    ) -> SavedPaymentMethod:
        intent = await self._setup_intent(customer=customer, order_id=order_id, token=token)
        return await self._saved(intent)

    async def _setup_intent(
        self, *, customer: Customer, order_id: str, token: str | None
    ) -> stripe.SetupIntent:
        """A SetupIntent for off-session use on the learner's Customer,
        confirmed with `token` when one is given."""
        async with _card_refusals():
            customer_reference = await self._customer(customer)
            intent = await self._client.v1.setup_intents.create_async(
                params={
                    "customer": customer_reference,
                    "usage": "off_session",
                    "payment_method_types": ["card"],
                    "metadata": {"order_id": order_id},
                }
            )
            if token is not None:
                intent = await self._client.v1.setup_intents.confirm_async(
                    intent.id, params={"payment_method": token}
                )
        return intent

    async def _saved(self, intent: stripe.SetupIntent) -> SavedPaymentMethod:
        """The card of a succeeded SetupIntent, or why there is none yet."""
        if intent.status in ("requires_action", "requires_confirmation"):
            raise requires_authentication(_setup_of(intent))
        if intent.status != "succeeded" or not intent.payment_method:
            raise InvalidPaymentMethod("The card was refused: the setup did not succeed.")
        reference = (
            intent.payment_method
            if isinstance(intent.payment_method, str)
            else intent.payment_method.id
        )
        async with _card_refusals():
            method = await self._client.v1.payment_methods.retrieve_async(reference)
        card = method.card
        if card is None:
            raise InvalidPaymentMethod("Only cards are accepted.")
        customer_reference = intent.customer
        return SavedPaymentMethod(
            provider=self.name,
            reference=method.id,
            customer_reference=customer_reference
            if isinstance(customer_reference, str) or customer_reference is None
            else customer_reference.id,
            brand=card.brand,
            last4=card.last4,
            exp_month=card.exp_month,
            exp_year=card.exp_year,
            setup_reference=intent.id,
        )

    async def create_charge(
        self,
        *,
        amount: Decimal,
        currency: str,
        payment_method: str,
        customer: str | None,
        idempotency_key: str,
        description: str,
    ) -> str:
        # Created unconfirmed: the caller stores its id before any money moves,
        # so a crash never leaves a debit it cannot find again (Stripe forgets
        # idempotency keys after 24 hours; retries with backoff can outlast that).
        async with _provider_errors():
            intent = await self._client.v1.payment_intents.create_async(
                params={
                    "amount": int(amount.scaleb(2)),
                    "currency": currency.lower(),
                    "payment_method": payment_method,
                    "customer": customer,
                    # Metadata rather than `description`: every Stripe fake takes it.
                    "metadata": {"guichet": description, "idempotency_key": idempotency_key},
                },
                options={"idempotency_key": idempotency_key},
            )
        return intent.id

    async def confirm_charge(self, *, reference: str, idempotency_key: str) -> ChargeResult:
        async with _provider_errors():
            intent = await self._client.v1.payment_intents.retrieve_async(reference)
            if intent.status == "requires_confirmation":
                intent = await self._client.v1.payment_intents.confirm_async(
                    reference,
                    params={"off_session": True},
                    options={"idempotency_key": f"{idempotency_key}:confirm"},
                )
        return _verdict(intent)

    async def charge_action(self, *, reference: str, idempotency_key: str) -> ChargeAction:
        async with _provider_errors():
            intent = await self._client.v1.payment_intents.retrieve_async(reference)
        redirect = (
            getattr(intent.next_action, "redirect_to_url", None) if intent.next_action else None
        )
        return ChargeAction(
            client_secret=intent.client_secret or "", next_action_url=getattr(redirect, "url", None)
        )

    async def cancel_charge(self, *, reference: str, idempotency_key: str) -> None:
        try:
            async with _provider_errors():
                await self._client.v1.payment_intents.cancel_async(
                    reference, options={"idempotency_key": f"{idempotency_key}:cancel"}
                )
        except stripe.InvalidRequestError:
            pass  # it succeeded (or was canceled) meanwhile: confirm_charge reads which

    async def refund(
        self, *, charge_reference: str, amount: Decimal, currency: str, idempotency_key: str
    ) -> str:
        async with _provider_errors():
            refund = await self._client.v1.refunds.create_async(
                params={"payment_intent": charge_reference, "amount": int(amount.scaleb(2))},
                options={"idempotency_key": idempotency_key},
            )
        return refund.id

    async def open_checkout(self, *, checkout: CheckoutRequest) -> CheckoutSession:
        """A Checkout Session in subscription mode for the academy's price,
        once per intent (its idempotency key): a retried activity gets the
        same session. The intent rides on the session and on the
        subscription it opens, so every later event names it."""
        async with _checkout_errors():
            customer = await self._customer(checkout.customer)
            marked = {"checkout_intent_id": checkout.intent_id}
            session = await self._client.v1.checkout.sessions.create_async(
                params={
                    "mode": "subscription",
                    "customer": customer,
                    "line_items": [{"price": checkout.price_id, "quantity": 1}],
                    "client_reference_id": checkout.intent_id,
                    "metadata": marked,
                    "subscription_data": {"metadata": marked},
                    "success_url": checkout.success_url,
                    "cancel_url": checkout.cancel_url,
                    "expires_at": int(checkout.expires_at.timestamp()),
                },
                options={"idempotency_key": f"checkout-session:{checkout.intent_id}"},
            )
        if not session.url:
            raise CheckoutRefused(f"Stripe gave checkout session {session.id} no URL.")
        return CheckoutSession(reference=session.id, url=session.url, customer_reference=customer)

    async def cancel_subscription(self, *, reference: str) -> CancelAnswer:
        async with _provider_errors():
            answer = await self._client.v1.subscriptions.update_async(
                reference, params={"cancel_at_period_end": True}
            )
        facts = _subscription_facts(answer.to_dict(for_json=True))
        return CancelAnswer(
            status=facts["status"],
            cancel_at=facts["cancel_at"],
            current_period_end=facts["current_period_end"],
        )

    async def recent_events(self, *, since: datetime) -> list[str]:
        """Stripe lists events newest first; the backfill applies them oldest first."""
        params: dict[str, Any] = {
            "created": {"gte": int(since.timestamp())},
            "types": list(SUBSCRIPTION_LIFE),
            "limit": 100,
        }
        found: list[str] = []
        async with _provider_errors():
            page = await self._client.v1.events.list_async(params=params)
            async for item in page.auto_paging_iter():
                found.append(item.id)
        return found[::-1]

    async def event(self, *, event_id: str) -> tuple[PaymentEvent, Any]:
        async with _provider_errors():
            found = await self._client.v1.events.retrieve_async(event_id)
        payload = found.to_dict(for_json=True)
        return _readable(payload), payload

    def parse_webhook(self, *, body: bytes, headers: Mapping[str, str]) -> PaymentEvent:
        """The event Stripe signed with the endpoint's secret. A forged,
        altered or stale (over 5 minutes: a replay) event is refused."""
        if not self._webhook_secret:
            raise WebhooksDisabled("Stripe webhooks are not configured here.")
        return _parse_webhook(
            body=body, signature=headers.get("stripe-signature", ""), secret=self._webhook_secret
        )


# Stripe's event types, in Guichet's terms; others are stored and ignored.
CHARGE_EVENTS = {
    "payment_intent.succeeded": PaymentEventKind.CHARGE_SUCCEEDED,
    "payment_intent.payment_failed": PaymentEventKind.CHARGE_FAILED,
}
REFUND_EVENT = "charge.refunded"
CHECKOUT_EVENTS = {
    "checkout.session.completed": PaymentEventKind.CHECKOUT_COMPLETED,
    "invoice.paid": PaymentEventKind.INVOICE_PAID,
}
SETUP_EVENT = "setup_intent.succeeded"
INVOICE_FAILED = "invoice.payment_failed"
SUBSCRIPTION_EVENTS = frozenset(
    {
        "customer.subscription.created",
        "customer.subscription.updated",
        "customer.subscription.deleted",
    }
)
# What an academy subscription lives from; the backfill lists these.
SUBSCRIPTION_LIFE = (*CHECKOUT_EVENTS, INVOICE_FAILED, *sorted(SUBSCRIPTION_EVENTS))


def _parse_webhook(*, body: bytes, signature: str, secret: str) -> PaymentEvent:
    try:
        stripe.Webhook.construct_event(body, signature, secret)
    except stripe.SignatureVerificationError:
        raise Unverifiable("The Stripe-Signature header does not match.") from None
    except ValueError:
        raise MalformedNotification("The body is not a Stripe event.") from None
    # Plain JSON from here (StripeObjects are not dicts), read as strictly as
    # it is stored: signed is not the same as well formed.
    try:
        payload = strict_json(body)
    except ValueError:
        raise MalformedNotification("The body is not a Stripe event Guichet can read.") from None
    return _readable(payload)


def _readable(payload: Any) -> PaymentEvent:
    try:
        return _event_of(payload)
    except (ValueError, KeyError, TypeError, AttributeError, IndexError):
        raise MalformedNotification("The body is not a Stripe event Guichet can read.") from None


# Stripe's ids: letters, digits and underscores; Guichet stores them as keys.
_EVENT_ID = re.compile(r"[A-Za-z0-9_]{1,255}")


def _event_of(payload: dict[str, Any]) -> PaymentEvent:
    event_id, event_type, thing = payload["id"], payload["type"], payload["data"]["object"]
    if not isinstance(event_id, str) or not _EVENT_ID.fullmatch(event_id):
        raise ValueError("event id")
    if not isinstance(event_type, str) or not isinstance(thing, dict):
        raise ValueError("event type or data.object")
    event = SimpleNamespace(id=event_id, type=event_type)
    if event.type in CHARGE_EVENTS:
        return PaymentEvent(
            event_id=event.id,
            type=event.type,
            kind=CHARGE_EVENTS[event.type],
            charge_reference=thing["id"],
        )
    if event.type == REFUND_EVENT and thing.get("payment_intent") and thing.get("refunded"):
        refunds = (thing.get("refunds") or {}).get("data") or []
        return PaymentEvent(
            event_id=event.id,
            type=event.type,
            kind=PaymentEventKind.CHARGE_REFUNDED,
            charge_reference=thing["payment_intent"],
            # Partial refunds made at Stripe are not mirrored; a full one is.
            refund_reference=refunds[0]["id"] if refunds else f"{thing['id']}:refund",
        )
    if event.type == SETUP_EVENT:
        return PaymentEvent(
            event_id=event.id,
            type=event.type,
            kind=PaymentEventKind.SETUP_SUCCEEDED,
            setup_reference=thing["id"],
            order_id=(thing.get("metadata") or {}).get("order_id"),
        )
    news = _subscription_news(payload, thing)
    if event.type in CHECKOUT_EVENTS:
        return PaymentEvent(
            event_id=event.id,
            type=event.type,
            kind=CHECKOUT_EVENTS[event.type],
            checkout_intent_id=_checkout_intent_id(thing),
            checkout_session_id=thing["id"] if thing.get("object") == "checkout.session" else None,
            customer_id=thing.get("customer"),
            subscription=news,
            **_cashed(thing),
        )
    if news is not None:
        return PaymentEvent(
            event_id=event.id,
            type=event.type,
            kind=PaymentEventKind.SUBSCRIPTION,
            checkout_intent_id=news.checkout_intent_id,
            subscription=news,
        )
    return PaymentEvent(event_id=event.id, type=event.type)


def _moment(value: Any) -> datetime | None:
    """Stripe's times are Unix seconds."""
    return datetime.fromtimestamp(value, UTC) if isinstance(value, int) else None


def _subscription_news(payload: dict[str, Any], thing: dict[str, Any]) -> SubscriptionNews | None:
    """What an invoice, a subscription or the checkout that opened it says of
    an academy subscription; None when it is about none."""
    kind = thing.get("object")
    if kind == "subscription" and payload["type"] in SUBSCRIPTION_EVENTS:
        facts = _subscription_facts(thing)
    elif kind == "invoice" and payload["type"] in ("invoice.paid", INVOICE_FAILED):
        facts = _invoice_facts(payload["type"], thing)
    elif kind == "checkout.session" and thing.get("mode") == "subscription":
        facts = _session_facts(thing)
    else:
        return None
    if not facts.get("subscription_id"):
        return None
    created = _moment(payload.get("created"))
    if created is None:
        raise ValueError("event created")
    return SubscriptionNews(
        event_id=payload["id"],
        type=payload["type"],
        created=created,
        checkout_intent_id=_checkout_intent_id(thing),
        customer_id=thing.get("customer"),
        **facts,
    )


def _subscription_facts(thing: dict[str, Any]) -> dict[str, Any]:
    items = (thing.get("items") or {}).get("data") or [{}]
    # Stripe moved the period to the items (API 2025-03); older ones have it here.
    period_end = thing.get("current_period_end") or items[0].get("current_period_end")
    cancel_at = thing.get("cancel_at")
    if cancel_at is None and thing.get("cancel_at_period_end"):
        cancel_at = period_end
    return {
        "subscription_id": thing["id"],
        "status": status_of(thing.get("status")),
        "current_period_end": _moment(period_end),
        "states_cancellation": True,
        "cancel_at": _moment(cancel_at),
        "canceled_at": _moment(thing.get("canceled_at") or thing.get("ended_at")),
    }


def _invoice_facts(event_type: str, thing: dict[str, Any]) -> dict[str, Any]:
    details = (thing.get("parent") or {}).get("subscription_details") or {}
    subscription = details.get("subscription") or thing.get("subscription")
    if isinstance(subscription, dict):
        subscription = subscription.get("id")
    lines = (thing.get("lines") or {}).get("data") or [{}]
    paid = event_type == "invoice.paid"
    return {
        "subscription_id": subscription,
        "status": SubscriptionStatus.ACTIVE if paid else SubscriptionStatus.PAST_DUE,
        # The service period the invoice bills (an invoice's own period_end is
        # the previous one's, for subscriptions billed in advance).
        "current_period_end": _moment((lines[0].get("period") or {}).get("end")) if paid else None,
        "invoice_id": thing["id"],
        "billing_reason": thing.get("billing_reason"),
        "notice": None if paid else SubscriptionNotice.PAYMENT_FAILED,
        **(_cashed(thing) if paid else {}),
    }


def _session_facts(thing: dict[str, Any]) -> dict[str, Any]:
    subscription = thing.get("subscription")
    if isinstance(subscription, dict):
        subscription = subscription.get("id")
    paid = thing.get("payment_status") in ("paid", "no_payment_required")
    return {
        "subscription_id": subscription,
        "status": SubscriptionStatus.ACTIVE if paid else None,
    }


def _cashed(thing: dict[str, Any]) -> dict[str, Any]:
    """What a checkout session (`amount_total`) or an invoice (`amount_paid`)
    cashed, from Stripe's minor units (cents: our currencies have two places)."""
    minor = thing.get(
        "amount_total" if thing.get("object") == "checkout.session" else "amount_paid"
    )
    currency = thing.get("currency")
    if not isinstance(minor, int) or not isinstance(currency, str):
        return {}
    return {"amount": Decimal(minor).scaleb(-2), "currency": currency.upper()}


def _checkout_intent_id(thing: dict[str, Any]) -> str | None:
    """Our checkout intent's id, as the checkout session was created with it:
    its client_reference_id, or `checkout_intent_id` in the metadata of the
    session, or of the subscription an invoice bills."""
    subscription = (thing.get("parent") or {}).get("subscription_details") or thing.get(
        "subscription_details"
    )
    candidates = [
        thing.get("client_reference_id"),
        (thing.get("metadata") or {}).get("checkout_intent_id"),
        ((subscription or {}).get("metadata") or {}).get("checkout_intent_id"),
    ]
    return next((str(item) for item in candidates if item), None)


def _verdict(intent: stripe.PaymentIntent) -> ChargeResult:
    if intent.status == "succeeded":
        return ChargeResult(reference=intent.id)
    if intent.status == "processing":
        raise ChargePending(intent.id)
    error = intent.last_payment_error
    code = (getattr(error, "decline_code", None) or getattr(error, "code", None)) if error else None
    # The bank wants the learner: Stripe answers an off-session confirmation
    # so with authentication_required (the intent back to
    # requires_payment_method), or leaves it requires_action.
    if intent.status == "requires_action" or code == AUTHENTICATION_REQUIRED:
        raise ChargeRequiresAction(intent.id)
    raise ChargeDeclined(
        error.message if error and error.message else f"payment {intent.status}", code=code
    )


def _setup_of(intent: stripe.SetupIntent) -> CardSetup:
    action = intent.next_action
    redirect = getattr(action, "redirect_to_url", None) if action else None
    return CardSetup(
        provider="stripe",
        setup_reference=intent.id,
        client_secret=intent.client_secret or "",
        next_action_url=getattr(redirect, "url", None),
    )


@contextlib.asynccontextmanager
async def _card_refusals() -> AsyncIterator[None]:
    """A refused card or a bad token is the learner's 400; an outage is not."""
    try:
        yield
    except (stripe.CardError, stripe.InvalidRequestError) as error:
        raise InvalidPaymentMethod(
            f"The card was refused: {error.user_message or 'invalid payment method'}."
        ) from None
    except (stripe.APIConnectionError, stripe.RateLimitError, stripe.APIError) as error:
        raise ProviderUnavailable(type(error).__name__) from None


@contextlib.asynccontextmanager
async def _checkout_errors() -> AsyncIterator[None]:
    """A request Stripe refuses (the price is gone) will be refused again."""
    try:
        yield
    except stripe.InvalidRequestError as error:
        raise CheckoutRefused(error.user_message or str(error)) from None
    except (stripe.APIConnectionError, stripe.RateLimitError, stripe.APIError) as error:
        raise ProviderUnavailable(type(error).__name__) from None


@contextlib.asynccontextmanager
async def _provider_errors() -> AsyncIterator[None]:
    """Stripe's exceptions in our terms: a card error is a refusal, the rest
    (network, rate limit, 5xx) an outage to retry."""
    try:
        yield
    except stripe.CardError as error:
        code = _decline_code_of(error)
        if code == AUTHENTICATION_REQUIRED:
            raise ChargeRequiresAction(_intent_of(error)) from None
        raise ChargeDeclined(error.user_message or "card declined", code=code) from None
    except (stripe.APIConnectionError, stripe.RateLimitError, stripe.APIError) as error:
        raise ProviderUnavailable(type(error).__name__) from None


def _intent_of(error: stripe.CardError) -> str:
    """The PaymentIntent a card error is about (Stripe names it in the error)."""
    intent = getattr(getattr(error, "error", None), "payment_intent", None)
    return str(getattr(intent, "id", None) or intent or "")


def _decline_code_of(error: stripe.CardError) -> str | None:
    """The issuer's decline code (insufficient_funds, lost_card…), else
    Stripe's error code (card_declined, expired_card…)."""
    details = getattr(error, "error", None)
    return getattr(details, "decline_code", None) or error.code
