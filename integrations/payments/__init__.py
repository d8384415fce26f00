"""Payment providers: one registry, picked by GUICHET_PAYMENT_BACKEND.

A new provider is a module implementing PaymentProvider (base.py), a line in
BACKENDS and a value of settings.PaymentBackend; its webhooks arrive at
`/api/v1/webhooks/payments/<name>`."""

from __future__ import annotations

from collections.abc import Callable

from integrations.payments.base import PaymentProvider
from integrations.payments.dummy import ChargeStore, DummyPaymentProvider
from integrations.payments.stripe import StripePaymentProvider
from settings import PaymentBackend, Settings


def _dummy(settings: Settings, store: ChargeStore) -> PaymentProvider:
    return DummyPaymentProvider(
        store=store,
        webhook_secret=settings.dummy_payment_secret_value,
        public_url=settings.effective_public_url,
    )


def _stripe(settings: Settings, _store: ChargeStore) -> PaymentProvider:
    return StripePaymentProvider(
        api_key=settings.stripe_api_key.get_secret_value(),
        api_base=str(settings.stripe_api_base).rstrip("/") if settings.stripe_api_base else None,
        webhook_secret=settings.stripe_webhook_secret.get_secret_value(),
    )


BACKENDS: dict[PaymentBackend, Callable[[Settings, ChargeStore], PaymentProvider]] = {
    PaymentBackend.DUMMY: _dummy,
    PaymentBackend.STRIPE: _stripe,
}


def payment_provider(settings: Settings, *, store: ChargeStore) -> PaymentProvider:
    """`store` keeps the dummy backend's charges; other backends ignore it."""
    return BACKENDS[settings.payment_backend](settings, store)
