"""Payment providers, picked by GUICHET_PAYMENT_BACKEND."""

from __future__ import annotations

from integrations.payments.base import PaymentProvider
from integrations.payments.dummy import ChargeStore, DummyPaymentProvider
from integrations.payments.stripe import StripePaymentProvider
from settings import PaymentBackend, Settings


def payment_provider(settings: Settings, *, store: ChargeStore) -> PaymentProvider:
    """`store` keeps the dummy backend's charges; other backends ignore it."""
    if settings.payment_backend == PaymentBackend.DUMMY:
        return DummyPaymentProvider(store=store)
    return StripePaymentProvider(
        api_key=settings.stripe_api_key.get_secret_value(),
        api_base=str(settings.stripe_api_base).rstrip("/") if settings.stripe_api_base else None,
    )
