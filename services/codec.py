"""The Temporal Web UI's remote codec: it posts a history's payloads (as
Temporal's JSON) and gets them decoded, for a staff member allowed to read
them (admin); `guichet codec-server` serves it."""

from __future__ import annotations

from google.protobuf import json_format
from temporalio.api.common.v1 import Payloads
from temporalio.converter import PayloadCodec

from domain.errors import BadRequest, error_class

MalformedPayloads = error_class(BadRequest, "malformed_payloads")


def _payloads(body: bytes) -> Payloads:
    try:
        return json_format.Parse(body, Payloads())
    except (json_format.ParseError, UnicodeDecodeError) as error:
        raise MalformedPayloads(f"Not Temporal payloads: {error}") from None


async def decode(*, codec: PayloadCodec, body: bytes) -> str:
    decoded = await codec.decode(list(_payloads(body).payloads))
    return json_format.MessageToJson(Payloads(payloads=decoded))


async def encode(*, codec: PayloadCodec, body: bytes) -> str:
    encoded = await codec.encode(list(_payloads(body).payloads))
    return json_format.MessageToJson(Payloads(payloads=encoded))
