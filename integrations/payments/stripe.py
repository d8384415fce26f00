"""Stripe, through the official SDK (async methods over httpx).

Cards are tokenised by Stripe's front-end SDK; we attach the resulting
PaymentMethod to the learner's Customer for later off-session charges.
"""

from __future__ import annotations

import stripe

from integrations.payments.base import Customer, InvalidPaymentMethod, SavedPaymentMethod


class StripePaymentProvider:
    name = "stripe"

    def __init__(self, *, api_key: str, api_base: str | None = None) -> None:
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

    async def save_payment_method(self, *, token: str, customer: Customer) -> SavedPaymentMethod:
        customer_reference = await self._customer(customer)
        try:
            method = await self._client.v1.payment_methods.attach_async(
                token, params={"customer": customer_reference}
            )
        except (stripe.CardError, stripe.InvalidRequestError) as error:
            raise InvalidPaymentMethod(
                f"The card was refused: {error.user_message or 'invalid payment method'}."
            ) from None
        card = method.card
        if card is None:
            raise InvalidPaymentMethod("Only cards are accepted.")
        return SavedPaymentMethod(
            provider=self.name,
            reference=method.id,
            customer_reference=customer_reference,
            brand=card.brand,
            last4=card.last4,
            exp_month=card.exp_month,
            exp_year=card.exp_year,
        )
