"""Signature providers, picked by GUICHET_SIGNATURE_BACKEND."""

from __future__ import annotations

from integrations.signature.base import SignatureProvider
from integrations.signature.dummy import DummySignatureProvider, ProcedureStore
from integrations.signature.lex_persona import LexPersonaSignatureProvider
from settings import Settings, SignatureBackend


def signature_provider(settings: Settings, *, store: ProcedureStore) -> SignatureProvider:
    if settings.signature_backend == SignatureBackend.DUMMY:
        return DummySignatureProvider(
            store=store,
            public_url=settings.effective_public_url,
            secret=settings.dummy_signature_secret_value,
            webhook_delay=settings.dummy_signature_webhook_delay,
            webhook_drop_rate=settings.dummy_signature_webhook_drop_rate,
        )
    assert settings.lexpersona_base_url is not None  # settings validation requires it
    return LexPersonaSignatureProvider(
        base_url=str(settings.lexpersona_base_url),
        token=settings.lexpersona_token.get_secret_value(),
        user_id=settings.lexpersona_session_user_id,
        profile_id=settings.lexpersona_profile_id,
    )
