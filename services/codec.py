"""The Temporal Web UI's remote codec: it posts a history's payloads (as
Temporal's JSON) and gets them decoded, for a staff member allowed to read
them (admin); `guichet codec-server` serves it.

A payload this server cannot open (its key retired from
GUICHET_PAYLOAD_KEYS, or its bytes damaged) comes back as it was sent: the
UI shows it still encrypted and the rest of the history readable, where one
refusal would have hidden every payload of the batch."""

from __future__ import annotations

import logging

from cryptography.exceptions import InvalidTag
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.converter import PayloadCodec

from domain.errors import BadRequest, error_class
from integrations.payload_codec import KEY_ID, UnknownPayloadKey

logger = logging.getLogger(__name__)

MalformedPayloads = error_class(BadRequest, "malformed_payloads")


def _payloads(body: bytes) -> Payloads:
    try:
        return json_format.Parse(body, Payloads())
    except (json_format.ParseError, UnicodeDecodeError) as error:
        raise MalformedPayloads(f"Not Temporal payloads: {error}") from None


async def _opened(codec: PayloadCodec, payload: Payload) -> Payload:
    try:
        (decoded,) = await codec.decode([payload])
    except (UnknownPayloadKey, InvalidTag) as error:
        key_id = payload.metadata.get(KEY_ID, b"").decode(errors="replace")
        logger.warning(
            "payload left encrypted: %s",
            type(error).__name__,
            extra={"fields": {"key_id": key_id}},
        )
        return payload
    return decoded


async def decode(*, codec: PayloadCodec, body: bytes) -> str:
    decoded = [await _opened(codec, item) for item in _payloads(body).payloads]
    return json_format.MessageToJson(Payloads(payloads=decoded))


async def encode(*, codec: PayloadCodec, body: bytes) -> str:
    encoded = await codec.encode(list(_payloads(body).payloads))
    return json_format.MessageToJson(Payloads(payloads=encoded))
