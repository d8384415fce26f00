"""Payment providers, picked by GUICHET_PAYMENT_BACKEND."""

from __future__ import annotations

from integrations.payments.base import PaymentProvider
from integrations.payments.dummy import DummyPaymentProvider
from settings import PaymentBackend, Settings


def payment_provider(settings: Settings) -> PaymentProvider:
    if settings.payment_backend is PaymentBackend.DUMMY:
        return DummyPaymentProvider()
    raise NotImplementedError(
        f"payment backend {settings.payment_backend} is not built yet; use dummy"
    )
