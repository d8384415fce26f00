"""Signature providers, picked by GUICHET_SIGNATURE_BACKEND."""

from __future__ import annotations

from integrations.signature.base import SignatureProvider
from integrations.signature.dummy import DummySignatureProvider, ProcedureStore
from settings import Settings, SignatureBackend


def signature_provider(settings: Settings, *, store: ProcedureStore) -> SignatureProvider:
    if settings.signature_backend is SignatureBackend.DUMMY:
        return DummySignatureProvider(
            store=store,
            public_url=settings.effective_public_url,
            secret=settings.dummy_signature_secret_value,
            webhook_delay=settings.dummy_signature_webhook_delay,
            webhook_drop_rate=settings.dummy_signature_webhook_drop_rate,
        )
    raise NotImplementedError(
        f"signature backend {settings.signature_backend} is not built yet; use dummy"
    )
