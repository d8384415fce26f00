"""Business errors across the Temporal boundary, raising side.

Activities and workflow updates raise a DomainError as a non-retryable
ApplicationError whose type is the error code and whose details carry the
HTTP status and details; integrations/temporal.py reads it back for the API."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import ParamSpec, TypeVar

from temporalio.exceptions import ApplicationError

from domain.errors import DomainError

P = ParamSpec("P")
R = TypeVar("R")


def as_application_error(error: DomainError) -> ApplicationError:
    return ApplicationError(
        error.message,
        {"status": error.status, "details": error.details},
        type=error.code,
        non_retryable=True,
    )


def raises_domain_errors(function: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Business errors are final: the activity fails without retries and the
    workflow (and the API behind it) sees the code."""

    @functools.wraps(function)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await function(*args, **kwargs)
        except DomainError as error:
            raise as_application_error(error) from None

    return wrapper
