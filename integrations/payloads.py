"""Webhook bodies as Guichet reads (and stores) them: JSON without NaN or
Infinity (not JSON, and PostgreSQL's jsonb refuses them) and without NUL
characters (PostgreSQL text and jsonb refuse them). Either reached the
database as a 500 once a signed event carried it."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

# How the dummy providers sign their webhooks (HMAC-SHA256 of the body).
SIGNATURE_HEADER = "x-guichet-signature"


class UnreadablePayload(ValueError):
    """Not a JSON document Guichet can store."""


def _refuse_constant(constant: str) -> Any:
    raise UnreadablePayload(f"{constant} is not a JSON number")


def _holds_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(key) or _holds_nul(item) for key, item in value.items())
    if isinstance(value, list):
        return any(_holds_nul(item) for item in value)
    return False


def strict_json(body: bytes) -> Any:
    """The body's JSON; UnreadablePayload (a ValueError) for anything else."""
    try:
        payload = json.loads(body, parse_constant=_refuse_constant)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise UnreadablePayload("not JSON") from None
    if _holds_nul(payload):
        raise UnreadablePayload("a NUL character")
    return payload


def sign_body(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def is_signed(*, body: bytes, signature: str, secret: str) -> bool:
    """`signature` is the dummy providers' signature of `body` under `secret`."""
    return hmac.compare_digest(signature, sign_body(secret, body))
