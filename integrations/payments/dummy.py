"""The embedded default: no provider, Stripe-like test tokens.

`pm_card_visa` and `pm_card_mastercard` pay; `pm_card_chargeDeclined` and
`pm_card_insufficientFunds` save fine and are declined when charged, as with
Stripe's test cards; `pm_card_providerOutage` makes the "provider" unavailable
for the first OUTAGE_ATTEMPTS tries of each charge, then pays. Any other
token is refused. Charges are kept (see models/payments.py) by idempotency
key: the same key never charges twice.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Protocol

from pydantic import BaseModel

from integrations.payments.base import (
    ChargeDeclined,
    ChargeResult,
    Customer,
    InvalidPaymentMethod,
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
}
DECLINED = frozenset({"pm_card_chargeDeclined", "pm_card_insufficientFunds"})
OUTAGE = "pm_card_providerOutage"
OUTAGE_ATTEMPTS = 2


class DummyCharge(BaseModel):
    key: str
    reference: str | None = None
    declined: bool = False
    unavailable_attempts: int = 0
    # Set on refunds: the charge they give back.
    refunded_charge: str | None = None


class ChargeStore(Protocol):
    """Where the dummy charges live (the database; see models/payments.py)."""

    async def load(self, key: str) -> DummyCharge | None: ...

    async def save(self, charge: DummyCharge) -> None: ...


EXPIRY = (12, 2034)


class DummyPaymentProvider:
    name = "dummy"

    def __init__(self, *, store: ChargeStore) -> None:
        self._store = store

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
        charge = await self._store.load(idempotency_key) or DummyCharge(key=idempotency_key)
        if charge.reference is None and not charge.declined:
            if payment_method == OUTAGE and charge.unavailable_attempts < OUTAGE_ATTEMPTS:
                charge.unavailable_attempts += 1
                await self._store.save(charge)
                raise ProviderUnavailable("The dummy provider is down (simulated outage).")
            charge.declined = payment_method in DECLINED
            charge.reference = None if charge.declined else f"dummy_ch_{uuid.uuid4().hex[:16]}"
            await self._store.save(charge)
        if charge.declined:
            raise ChargeDeclined("Your card was declined.")
        assert charge.reference is not None
        return ChargeResult(reference=charge.reference)

    async def refund(
        self, *, charge_reference: str, amount: Decimal, currency: str, idempotency_key: str
    ) -> str:
        refund = await self._store.load(idempotency_key)
        if refund is None:
            refund = DummyCharge(
                key=idempotency_key,
                reference=f"dummy_re_{uuid.uuid4().hex[:16]}",
                refunded_charge=charge_reference,
            )
            await self._store.save(refund)
        assert refund.reference is not None
        return refund.reference

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
