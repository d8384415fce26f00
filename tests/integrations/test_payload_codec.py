"""The payload codec: what leaves the process is sealed under the current
key, what comes back opens under the key it names (rotation), a changed
byte or relabelled key fails, and payloads from before encryption pass."""

from __future__ import annotations

import pytest
from cryptography.exceptions import InvalidTag
from pydantic import SecretStr, ValidationError
from temporalio.api.common.v1 import Payload

from integrations.payload_codec import ENCODING, KEY_ID, AesGcmCodec, UnknownPayloadKey, new_key
from settings import PayloadKey, Settings

PLAIN = Payload(metadata={"encoding": b"json/plain"}, data=b'{"last_name": "Lovelace"}')


def _key(name: str) -> PayloadKey:
    return PayloadKey(id=name, key=SecretStr(new_key()))


async def test_sealed_under_the_first_key_and_opened_after_rotation() -> None:
    old, new = _key("old"), _key("new")
    (sealed,) = await AesGcmCodec([old]).encode([PLAIN])
    assert sealed.metadata["encoding"] == ENCODING and sealed.metadata[KEY_ID] == b"old"
    assert b"Lovelace" not in sealed.SerializeToString()
    rotated = AesGcmCodec([new, old])
    assert await rotated.decode([sealed]) == [PLAIN]
    (resealed,) = await rotated.encode([PLAIN])
    assert resealed.metadata[KEY_ID] == b"new"
    # Written before encryption: as it was.
    assert await rotated.decode([PLAIN]) == [PLAIN]


async def test_a_changed_byte_a_relabelled_key_or_a_missing_key_fails() -> None:
    first, second = _key("first"), _key("second")
    codec = AesGcmCodec([first, second])
    (sealed,) = await codec.encode([PLAIN])
    tampered = Payload()
    tampered.CopyFrom(sealed)
    tampered.data = sealed.data[:-1] + bytes([sealed.data[-1] ^ 1])
    relabelled = Payload()
    relabelled.CopyFrom(sealed)
    relabelled.metadata[KEY_ID] = b"second"
    for broken in (tampered, relabelled):
        with pytest.raises(InvalidTag):
            await codec.decode([broken])
    with pytest.raises(UnknownPayloadKey):
        await AesGcmCodec([second]).decode([sealed])


def test_payload_keys_are_32_bytes_of_base64() -> None:
    assert Settings(payload_keys=[{"id": "k1", "key": new_key()}]).payload_keys[0].id == "k1"
    for bad in ("not base64!", "c2hvcnQ="):
        with pytest.raises(ValidationError):
            Settings(payload_keys=[{"id": "k1", "key": bad}])
