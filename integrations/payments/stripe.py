"""Stripe, through the official SDK (async methods over httpx).

Cards are tokenised by Stripe's front-end SDK; we attach the resulting
PaymentMethod to the learner's Customer for later off-session charges.
"""

from __future__ import annotations

from decimal import Decimal

import stripe

from integrations.payments.base import (
    ChargeDeclined,
    ChargeResult,
    Customer,
    InvalidPaymentMethod,
    ProviderUnavailable,
    SavedPaymentMethod,
)


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
        try:
            intent = await self._client.v1.payment_intents.create_async(
                params={
                    "amount": int(amount.scaleb(2)),
                    "currency": currency.lower(),
                    "payment_method": payment_method,
                    "customer": customer,
                    "confirm": True,
                    "off_session": True,
                    # Metadata rather than `description`: every Stripe fake takes it.
                    "metadata": {"guichet": description, "idempotency_key": idempotency_key},
                },
                options={"idempotency_key": idempotency_key},
            )
        except stripe.CardError as error:
            raise ChargeDeclined(error.user_message or "card declined") from None
        except (stripe.APIConnectionError, stripe.RateLimitError, stripe.APIError) as error:
            raise ProviderUnavailable(type(error).__name__) from None
        if intent.status != "succeeded":
            # Off-session, nobody can authenticate: anything but success is a refusal.
            raise ChargeDeclined(f"payment intent {intent.status}")
        return ChargeResult(reference=intent.id)

    async def refund(
        self, *, charge_reference: str, amount: Decimal, currency: str, idempotency_key: str
    ) -> str:
        try:
            refund = await self._client.v1.refunds.create_async(
                params={"payment_intent": charge_reference, "amount": int(amount.scaleb(2))},
                options={"idempotency_key": idempotency_key},
            )
        except (stripe.APIConnectionError, stripe.RateLimitError, stripe.APIError) as error:
            raise ProviderUnavailable(type(error).__name__) from None
        return refund.id
