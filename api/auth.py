"""Bearer JWT: who the caller is and which roles they hold."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import StrEnum

import jwt
from pydantic import BaseModel, Field, ValidationError

from api.schemas.common import OneLine
from domain.errors import DomainError, error_class
from settings import Settings


class Role(StrEnum):
    ADMIN = "admin"
    PROMO_MANAGER = "promo_manager"
    ACCOUNTANT = "accountant"


class Unauthenticated(DomainError):
    status = 401
    code = "not_authenticated"


class Forbidden(DomainError):
    status = 403
    code = "permission_denied"


InvalidToken = error_class(Unauthenticated, "invalid_token")


class Claims(BaseModel):
    # One line each: they reach mail headers (To:) and logs.
    sub: OneLine = Field(min_length=1, max_length=255)
    email: OneLine = Field(default="", max_length=320)
    name: OneLine = Field(default="", max_length=255)
    roles: list[str] = Field(default_factory=list)

    def has_any_role(self, *roles: Role) -> bool:
        return any(role.value in self.roles for role in roles)


def encode_token(
    *, claims: Claims, secret: str, algorithm: str, lifetime: timedelta = timedelta(hours=12)
) -> str:
    now = datetime.now(UTC)
    payload = claims.model_dump() | {"iat": now, "exp": now + lifetime}
    return jwt.encode(payload, secret, algorithm=algorithm)


# Clocks of the issuer and of Guichet may differ this much.
CLOCK_LEEWAY = timedelta(minutes=1)


def decode_token(*, token: str, settings: Settings) -> Claims:
    """Claims of a valid token; any expired, forged, malformed or too
    long-lived token (or one for another issuer or audience, when those are
    set) is a 401."""
    return verify_token(token=token, settings=settings)[0]


def verify_token(*, token: str, settings: Settings) -> tuple[Claims, datetime]:
    """As decode_token, with the moment the token expires (a back-office
    session lasts no longer)."""
    required = ["exp", "sub"]
    required += ["iss"] if settings.jwt_issuer else []
    required += ["aud"] if settings.jwt_audience else []
    try:
        payload = jwt.decode(
            token,
            settings.require_jwt_secret(),
            algorithms=[settings.jwt_algorithm],
            options={"require": required},
            issuer=settings.jwt_issuer or None,
            audience=settings.jwt_audience or None,
        )
        claims = Claims.model_validate(payload)
    except jwt.ExpiredSignatureError:
        raise InvalidToken("The token has expired.") from None
    except (jwt.InvalidTokenError, ValidationError):
        raise InvalidToken("The token is invalid.") from None
    latest = datetime.now(UTC) + settings.jwt_max_lifetime + CLOCK_LEEWAY
    if payload["exp"] > latest.timestamp():
        raise InvalidToken("The token lives longer than GUICHET_JWT_MAX_LIFETIME allows.")
    return claims, datetime.fromtimestamp(payload["exp"], UTC)
