"""The embedded default: no provider, Stripe-like test tokens.

`pm_card_visa` and `pm_card_mastercard` pay; `pm_card_chargeDeclined` and
`pm_card_insufficientFunds` save fine and are declined when charged, as with
Stripe's test cards; `pm_card_providerOutage` makes the "provider" unavailable
for the first OUTAGE_ATTEMPTS tries of each charge, then pays;
`pm_card_asyncConfirmation` answers "processing" once, then pays. Any other
token is refused. Charges are kept (see models/payments.py) by idempotency
key: the same key never prepares or debits twice.

Its webhooks are Guichet's own PaymentEvent as JSON, signed like the dummy
signature backend's (`x-guichet-signature`: HMAC-SHA256 of the body under
GUICHET_JWT_SECRET's derived key): a test or a demo can deliver any event,
late or out of order, to the embedded stack.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from decimal import Decimal
from typing import Protocol

from pydantic import BaseModel, ValidationError

from domain.errors import MalformedNotification, Unverifiable
from integrations.payloads import SIGNATURE_HEADER, is_signed, strict_json
from integrations.payments.base import (
    ChargeDeclined,
    ChargePending,
    ChargeResult,
    Customer,
    InvalidPaymentMethod,
    PaymentEvent,
    ProviderUnavailable,
    SavedPaymentMethod,
)

# token -> (brand, last4): the last digits of Stripe's matching test cards.
TEST_CARDS: dict[str, tuple[str, str]] = {
    "pm_card_visa": ("visa", "4242"),
    "pm_card_mastercard": ("mastercard", "4444"),
    "pm_card_chargeDeclined": ("visa", "0002"),
    "pm_card_insufficientFunds": ("visa", "9995"),
    "pm_card_providerOutage": ("visa", "0019"),
    "pm_card_asyncConfirmation": ("visa", "0077"),
}
DECLINED = frozenset({"pm_card_chargeDeclined", "pm_card_insufficientFunds"})
OUTAGE = "pm_card_providerOutage"
OUTAGE_ATTEMPTS = 2
ASYNC_CONFIRMATION = "pm_card_asyncConfirmation"


class DummyCharge(BaseModel):
    key: str
    reference: str | None = None
    payment_method: str | None = None
    confirmed: bool = False
    declined: bool = False
    unavailable_attempts: int = 0
    processing_answers: int = 0
    # Set on refunds: the charge they give back.
    refunded_charge: str | None = None


class ChargeStore(Protocol):
    """Where the dummy charges live (the database; see models/payments.py)."""

    async def load(self, key: str) -> DummyCharge | None: ...

    async def save(self, charge: DummyCharge) -> None: ...


EXPIRY = (12, 2034)


class DummyPaymentProvider:
    name = "dummy"

    def __init__(self, *, store: ChargeStore, webhook_secret: str) -> None:
        self._store = store
        self._webhook_secret = webhook_secret

    def parse_webhook(self, *, body: bytes, headers: Mapping[str, str]) -> PaymentEvent:
        signature = headers.get(SIGNATURE_HEADER, "")
        if not is_signed(body=body, signature=signature, secret=self._webhook_secret):
            raise Unverifiable("The event signature does not match.")
        try:
            return PaymentEvent.model_validate(strict_json(body))
        except (ValueError, ValidationError):
            raise MalformedNotification("The event cannot be read.") from None

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
        return await self._once(idempotency_key, "dummy_pi", payment_method=payment_method)

    async def confirm_charge(self, *, reference: str, idempotency_key: str) -> ChargeResult:
        charge = await self._store.load(idempotency_key)
        if charge is None or charge.reference != reference:
            raise ChargeDeclined("No such charge.")
        if not charge.confirmed:
            if charge.payment_method == OUTAGE and charge.unavailable_attempts < OUTAGE_ATTEMPTS:
                charge.unavailable_attempts += 1
                await self._store.save(charge)
                raise ProviderUnavailable("The dummy provider is down (simulated outage).")
            if charge.payment_method == ASYNC_CONFIRMATION and not charge.processing_answers:
                charge.processing_answers += 1
                await self._store.save(charge)
                raise ChargePending(reference)
            charge.confirmed = True
            charge.declined = charge.payment_method in DECLINED
            await self._store.save(charge)
        if charge.declined:
            raise ChargeDeclined("Your card was declined.")
        return ChargeResult(reference=reference)

    async def refund(
        self, *, charge_reference: str, amount: Decimal, currency: str, idempotency_key: str
    ) -> str:
        return await self._once(idempotency_key, "dummy_re", refunded_charge=charge_reference)

    async def _once(self, key: str, prefix: str, **fields: str) -> str:
        """The reference of what `key` made, made now if it is new."""
        made = await self._store.load(key)
        if made is None:
            made = DummyCharge(key=key, reference=f"{prefix}_{uuid.uuid4().hex[:16]}", **fields)
            await self._store.save(made)
        assert made.reference is not None
        return made.reference

    async def save_payment_method(self, *, token: str, customer: Customer) -> SavedPaymentMethod:
        card = TEST_CARDS.get(token)
        if card is None:
            raise InvalidPaymentMethod(
                "Unknown payment method token; the dummy backend takes "
                + ", ".join(sorted(TEST_CARDS))
                + "."
            )
        brand, last4 = card
        return SavedPaymentMethod(
            provider=self.name,
            reference=token,
            customer_reference=f"dummy_cus_{customer.id}",
            brand=brand,
            last4=last4,
            exp_month=EXPIRY[0],
            exp_year=EXPIRY[1],
        )
