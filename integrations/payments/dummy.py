"""The embedded default: no provider, Stripe-like test tokens.

`pm_card_visa` and `pm_card_mastercard` pay; `pm_card_chargeDeclined` and
`pm_card_insufficientFunds` save fine and are declined when charged, as with
Stripe's test cards. Any other token is refused.
"""

from __future__ import annotations

from integrations.payments.base import Customer, InvalidPaymentMethod, SavedPaymentMethod

# token -> (brand, last4): the last digits of Stripe's matching test cards.
TEST_CARDS: dict[str, tuple[str, str]] = {
    "pm_card_visa": ("visa", "4242"),
    "pm_card_mastercard": ("mastercard", "4444"),
    "pm_card_chargeDeclined": ("visa", "0002"),
    "pm_card_insufficientFunds": ("visa", "9995"),
}
EXPIRY = (12, 2034)


class DummyPaymentProvider:
    name = "dummy"

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
