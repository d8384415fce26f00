"""Every error leaves as {"error": {"code", "message", "details"}}."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from domain.errors import DomainError, RateLimited

logger = logging.getLogger("guichet.api")


class ErrorBody(BaseModel):
    code: str
    message: str
    details: Any = None


class ErrorResponse(BaseModel):
    error: ErrorBody


def error_response(
    status: int, code: str, message: str, details: Any = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    body = {"error": {"code": code, "message": message, "details": jsonable_encoder(details)}}
    return JSONResponse(body, status_code=status, headers=headers)


def _status_code_name(status: int) -> str:
    try:
        return HTTPStatus(status).phrase.lower().replace(" ", "_").replace("-", "_")
    except ValueError:
        return "error"


def domain_error_response(exc: DomainError) -> JSONResponse:
    """A refusal of ours, as every route answers it."""
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
    if isinstance(exc, RateLimited):
        headers = {"Retry-After": str(exc.retry_after)}
    return error_response(exc.status, exc.code, exc.message, exc.details, headers)


async def _domain_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    return domain_error_response(exc)


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    details = [
        {"loc": list(item["loc"]), "msg": item["msg"], "type": item["type"]}
        for item in exc.errors()
    ]
    return error_response(422, "validation_error", "The request is not valid.", details)


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    message = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
    return error_response(
        exc.status_code, _status_code_name(exc.status_code), message, headers=exc.headers
    )


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    logger.exception("unhandled error", extra={"fields": {"path": request.url.path}})
    return error_response(500, "internal_error", "An unexpected error occurred.")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)


# For the OpenAPI document: what an error looks like on each status.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse, "description": HTTPStatus(status).phrase}
    for status in (400, 401, 403, 404, 409, 422)
}
# Routes answering HTML: their errors are still JSON (a model would be
# documented under the route's own media type).
HTML_ROUTE_ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {
        "description": HTTPStatus(status).phrase,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}},
    }
    for status in (400, 401, 403, 404, 409, 422)
}
# Webhooks: 503 when Temporal cannot take the news (nothing kept; the
# provider delivers again).
WEBHOOK_RESPONSES: dict[int | str, dict[str, Any]] = ERROR_RESPONSES | {
    503: {"model": ErrorResponse, "description": "Temporal unavailable: deliver again later"}
}
# Routes behind a rate limit add this one.
RATE_LIMITED_RESPONSE: dict[int | str, dict[str, Any]] = {
    429: {
        "model": ErrorResponse,
        "description": "rate_limited: too many requests; retry after Retry-After seconds",
        "headers": {"Retry-After": {"schema": {"type": "integer"}}},
    }
}
