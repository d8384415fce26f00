"""What Guichet needs from a payment provider, whichever it is."""

from __future__ import annotations

from decimal import Decimal
from typing import Protocol

from pydantic import BaseModel

from domain.errors import BadRequest, error_class

InvalidPaymentMethod = error_class(BadRequest, "invalid_payment_method")


class Customer(BaseModel):
    """The learner, and their customer at the provider if they have one."""

    id: str
    email: str
    name: str
    reference: str | None = None


class SavedPaymentMethod(BaseModel):
    """A provider reference and what may be shown: never a full card number."""

    provider: str
    reference: str
    customer_reference: str | None
    brand: str
    last4: str
    exp_month: int
    exp_year: int


class PaymentProvider(Protocol):
    name: str

    async def save_payment_method(self, *, token: str, customer: Customer) -> SavedPaymentMethod:
        """Keep the method behind `token` (from the provider's front-end SDK)
        for off-session charges; InvalidPaymentMethod if the provider refuses it."""
        ...

    async def charge(
        self,
        *,
        amount: Decimal,
        currency: str,
        payment_method: str,
        customer: str | None,
        idempotency_key: str,
        description: str,
    ) -> ChargeResult:
        """Charge the saved method off-session. The same idempotency key never
        charges twice. ChargeDeclined or ProviderUnavailable otherwise."""
        ...

    async def refund(
        self, *, charge_reference: str, amount: Decimal, currency: str, idempotency_key: str
    ) -> str:
        """Refund (part of) a charge; returns the refund's reference. The same
        idempotency key never refunds twice."""
        ...


class ChargeDeclined(Exception):
    """The provider refused the charge (card declined, insufficient funds)."""


class ProviderUnavailable(Exception):
    """The provider could not answer (network, 5xx, rate limit): try again later."""


class ChargeResult(BaseModel):
    reference: str
