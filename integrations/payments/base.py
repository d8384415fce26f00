"""What Guichet needs from a payment provider, whichever it is."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Protocol

from pydantic import BaseModel, Field

from domain.academies import IntentPaid
from domain.errors import BadRequest, NotFound, error_class
from domain.orders import SavedPaymentMethod
from domain.payments import (
    CardSetup,
    ChargeAction,
    CheckoutRequest,
    CheckoutSession,
    Customer,
)
from domain.subscriptions import FIRST_INVOICE, CancelAnswer, SubscriptionNews

InvalidPaymentMethod = error_class(BadRequest, "invalid_payment_method")
WebhooksDisabled = error_class(NotFound, "payment_webhooks_disabled")


class PaymentProvider(Protocol):
    name: str

    async def create_setup(
        self, *, customer: Customer, order_id: str, token: str | None
    ) -> CardSetup:
        """A card setup for off-session charges of `order_id`'s installments,
        confirmed with `token` when one is given (the dummy backend needs
        one: no Stripe.js confirms it); InvalidPaymentMethod if refused."""
        ...

    async def saved_from_setup(
        self, *, reference: str, customer: Customer, order_id: str
    ) -> SavedPaymentMethod:
        """The card of a setup that succeeded. PaymentMethodRequiresAuthentication
        while the learner has not authenticated; InvalidPaymentMethod if it
        failed, is unknown or was made for another order."""
        ...

    async def save_payment_method(
        self, *, token: str, customer: Customer, order_id: str
    ) -> SavedPaymentMethod:
        """Keep the method behind `token` (from the provider's front-end SDK)
        for off-session charges, through a setup where the provider has one
        (so later charges carry the mandate). InvalidPaymentMethod if the
        provider refuses it; PaymentMethodRequiresAuthentication (with the
        setup to finish) if the bank wants the learner first."""
        ...

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
        """Prepare an off-session charge of the saved method and return its
        reference. Nothing is debited yet: a charge prepared twice (a crash
        before its reference was stored) costs the learner nothing."""
        ...

    async def confirm_charge(self, *, reference: str, idempotency_key: str) -> ChargeResult:
        """Debit a prepared charge, or report the verdict it already has: a
        confirmed charge is never debited again. Raises ChargeDeclined,
        ChargePending (the provider will tell later), ChargeRequiresAction
        (the bank wants the learner: asking again reads whether they have
        authenticated) or ProviderUnavailable."""
        ...

    async def charge_action(self, *, reference: str, idempotency_key: str) -> ChargeAction:
        """What the learner's front end needs to authenticate a charge that
        raised ChargeRequiresAction."""
        ...

    async def cancel_charge(self, *, reference: str, idempotency_key: str) -> None:
        """Withdraw a charge that waits for the learner (another card pays
        instead). A charge that has its verdict already keeps it: the caller
        reads it with confirm_charge."""
        ...

    async def refund(
        self, *, charge_reference: str, amount: Decimal, currency: str, idempotency_key: str
    ) -> str:
        """Refund (part of) a charge; returns the refund's reference. The same
        idempotency key never refunds twice."""
        ...

    async def open_checkout(self, *, checkout: CheckoutRequest) -> CheckoutSession:
        """A hosted page where the learner subscribes, made once per intent
        (asking again gives the same). ProviderUnavailable to retry;
        CheckoutRefused if the provider will not make it (a price gone)."""
        ...

    async def cancel_subscription(self, *, reference: str) -> CancelAnswer:
        """Cancel a subscription at the end of the period paid (asking twice
        is harmless). ProviderUnavailable to retry."""
        ...

    async def recent_events(self, *, since: datetime) -> list[str]:
        """The ids of the provider's events an academy subscription lives
        from, made since `since`, oldest first (none for a provider that
        keeps no list)."""
        ...

    async def event(self, *, event_id: str) -> tuple[PaymentEvent, Any]:
        """One event, read back from the provider: what it means and the
        payload to store. MalformedNotification if it cannot be read."""
        ...

    def parse_webhook(self, *, body: bytes, headers: Mapping[str, str]) -> PaymentEvent:
        """The event the provider signed, in Guichet's terms. Unverifiable if
        it is not authentic (or stale), MalformedNotification if it cannot be
        read, WebhooksDisabled when no webhook secret is configured."""
        ...


class ChargeDeclined(Exception):
    """The provider refused the charge (card declined, insufficient funds),
    with its decline code when it gives one (domain.payments.is_hard_decline)."""

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


class ChargePending(Exception):
    """The provider accepted the charge but has no verdict yet (asynchronous
    confirmation): ask again later, or wait for its webhook."""


class ChargeRequiresAction(Exception):
    """The bank wants the learner to authenticate this off-session charge
    (3-D Secure): not a refusal; nothing is debited until they do."""


class ProviderUnavailable(Exception):
    """The provider could not answer (network, 5xx, rate limit): try again later."""


class CheckoutRefused(Exception):
    """The provider will not make this checkout (its price is gone, its
    customer deleted): asking again will not help."""


class ChargeResult(BaseModel):
    reference: str


Id = Annotated[str, Field(min_length=1, max_length=255)]


class PaymentEventKind(StrEnum):
    """What a provider's event means to Guichet, whatever the provider calls it."""

    CHARGE_SUCCEEDED = "charge_succeeded"
    CHARGE_FAILED = "charge_failed"
    CHARGE_REFUNDED = "charge_refunded"
    SETUP_SUCCEEDED = "setup_succeeded"
    CHECKOUT_COMPLETED = "checkout_completed"
    INVOICE_PAID = "invoice_paid"
    # About a subscription only (see `subscription`).
    SUBSCRIPTION = "subscription"
    # Stored, then ignored.
    OTHER = "other"


class PaymentEvent(BaseModel):
    """A verified provider notification about one of our charges."""

    # Every id is stored or looked up as a key: bounded (a 300-character id
    # was a 500 on PostgreSQL).
    event_id: Id
    # The provider's own name for it, kept for the order's events and logs.
    type: Id
    kind: PaymentEventKind = PaymentEventKind.OTHER
    # The charge as create_charge named it (a PaymentIntent at Stripe); None
    # for an event about nothing we track (stored, then ignored).
    charge_reference: Id | None = None
    # Set when the provider reports the charge fully refunded.
    refund_reference: Id | None = None
    # A card setup that succeeded, and the order it was made for.
    setup_reference: Id | None = None
    order_id: Id | None = None
    # An academy checkout (checkout.session.completed, invoice.paid).
    checkout_intent_id: Id | None = None
    checkout_session_id: Id | None = None
    customer_id: Id | None = None
    # What the checkout cashed (its first payment), in the currency's units.
    amount: Annotated[Decimal, Field(ge=0, le=Decimal("99999999.99"))] | None = None
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] | None = None
    # What it says of an academy subscription (invoices, subscription events,
    # the checkout that opened it).
    subscription: SubscriptionNews | None = None

    @property
    def pays_checkout(self) -> bool:
        """It tells an academy checkout it is paid: the session completed, or
        the subscription's first invoice (not a renewal's)."""
        if self.checkout_intent_id is None:
            return False
        if self.kind is PaymentEventKind.CHECKOUT_COMPLETED:
            return True
        first = self.subscription is None or self.subscription.billing_reason in (
            None,
            FIRST_INVOICE,
        )
        return self.kind is PaymentEventKind.INVOICE_PAID and first


def intent_paid(event: PaymentEvent) -> IntentPaid:
    """What an event paying an academy checkout tells its intent's workflow."""
    return IntentPaid(
        event=event.type,
        checkout_session_id=event.checkout_session_id,
        customer_id=event.customer_id,
        amount=event.amount,
        currency=event.currency,
    )
