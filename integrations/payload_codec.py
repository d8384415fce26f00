"""Temporal payloads encrypted (AES-256-GCM) before they leave the process:
a learner's name, email and billing address are never in a history, nor in
the Web UI, in clear. Keys rotate: new payloads use the first key, each
encrypted payload names its key, older ones decode with theirs; a payload
written before encryption (no such metadata) passes through as it is."""

from __future__ import annotations

import base64
import os
from collections.abc import Sequence

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

from settings import PayloadKey

ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"
NONCE_BYTES = 12


class UnknownPayloadKey(Exception):
    """A payload encrypted with a key this process does not have."""


class AesGcmCodec(PayloadCodec):
    def __init__(self, keys: Sequence[PayloadKey]) -> None:
        if not keys:
            raise ValueError("the payload codec needs a key")
        self._current = keys[0].id
        self._keys = {
            item.id: AESGCM(base64.b64decode(item.key.get_secret_value())) for item in keys
        }

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self._encrypted(payload) for payload in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self._decrypted(payload) for payload in payloads]

    def _encrypted(self, payload: Payload) -> Payload:
        nonce = os.urandom(NONCE_BYTES)
        # The key id is authenticated too: a payload cannot be relabelled.
        key_id = self._current.encode()
        sealed = self._keys[self._current].encrypt(nonce, payload.SerializeToString(), key_id)
        return Payload(metadata={"encoding": ENCODING, KEY_ID: key_id}, data=nonce + sealed)

    def _decrypted(self, payload: Payload) -> Payload:
        if payload.metadata.get("encoding") != ENCODING:
            return payload  # written before encryption
        key_id = payload.metadata.get(KEY_ID, b"")
        cipher = self._keys.get(key_id.decode())
        if cipher is None:
            raise UnknownPayloadKey(f"no payload key {key_id.decode()!r} here")
        nonce, sealed = payload.data[:NONCE_BYTES], payload.data[NONCE_BYTES:]
        return Payload.FromString(cipher.decrypt(nonce, sealed, key_id))


def new_key() -> str:
    """A fresh key, base64 (what GUICHET_PAYLOAD_KEYS holds)."""
    return base64.b64encode(os.urandom(32)).decode()
