"""Errors of the business rules, each carrying the HTTP status and code it maps to.

The API turns them into `{"error": {"code", "message", "details"}}`; workflows and
activities can raise them too, since this module does no I/O.
"""

from __future__ import annotations

from typing import Any, ClassVar


class DomainError(Exception):
    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"

    def __init__(self, message: str, *, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class BadRequest(DomainError):
    status = 400


class NotFound(DomainError):
    status = 404
    code = "not_found"


class Conflict(DomainError):
    """The target's current state does not allow the request (an order
    already canceled, a link still active, a code already used), or another
    record already holds what it asks for. The same refusal is 409 whatever
    the action (README, "Refusals")."""

    status = 409
    code = "conflict"


class Unprocessable(DomainError):
    """Well-formed, but what it asks breaks a business rule of its own
    content (an address missing, a run closed for enrollment, dates out of
    order)."""

    status = 422
    code = "unprocessable"


class Unverifiable(DomainError):
    """A webhook whose authenticity cannot be established."""

    status = 401
    code = "invalid_signature"


class BadGateway(DomainError):
    """A provider Guichet depends on refused what it was asked."""

    status = 502
    code = "bad_gateway"


class RateLimited(DomainError):
    status = 429
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message, details={"retry_after": retry_after})
        self.retry_after = retry_after


def error_class(base: type[DomainError], code: str) -> type[DomainError]:
    """A named subclass so every documented code is one importable symbol."""
    name = "".join(part.title() for part in code.split("_"))
    return type(name, (base,), {"code": code})


MalformedNotification = error_class(BadRequest, "malformed_notification")
