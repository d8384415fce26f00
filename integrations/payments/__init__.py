"""Payment providers, picked by GUICHET_PAYMENT_BACKEND."""

from __future__ import annotations

from integrations.payments.base import PaymentProvider
from integrations.payments.dummy import DummyPaymentProvider
from integrations.payments.stripe import StripePaymentProvider
from settings import PaymentBackend, Settings


def payment_provider(settings: Settings) -> PaymentProvider:
    if settings.payment_backend == PaymentBackend.DUMMY:
        return DummyPaymentProvider()
    return StripePaymentProvider(
        api_key=settings.stripe_api_key.get_secret_value(),
        api_base=str(settings.stripe_api_base).rstrip("/") if settings.stripe_api_base else None,
    )
