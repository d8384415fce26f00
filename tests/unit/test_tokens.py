"""Which bearer tokens Guichet accepts: lifetime, issuer and audience."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt
import pytest
from pydantic import SecretStr

from api.auth import Unauthenticated, decode_token
from settings import Settings

SECRET = "t" * 40


def _token(lifetime: timedelta, **extra: object) -> str:
    payload = {"sub": "ada", "exp": datetime.now(UTC) + lifetime} | extra
    return jwt.encode(payload, SECRET, algorithm="HS256")


def _settings(**update: object) -> Settings:
    return Settings(jwt_secret=SecretStr(SECRET), **update)


def test_a_token_within_the_maximum_lifetime_is_accepted() -> None:
    assert decode_token(token=_token(timedelta(hours=23)), settings=_settings()).sub == "ada"


@pytest.mark.parametrize("lifetime", [timedelta(days=2), timedelta(days=365 * 1000)])
def test_a_token_living_longer_than_the_maximum_is_refused(lifetime: timedelta) -> None:
    with pytest.raises(Unauthenticated, match="GUICHET_JWT_MAX_LIFETIME"):
        decode_token(token=_token(lifetime), settings=_settings())


def test_an_exp_of_ten_to_the_eighteen_is_refused() -> None:
    token = jwt.encode({"sub": "ada", "exp": 10**18}, SECRET, algorithm="HS256")
    with pytest.raises(Unauthenticated):
        decode_token(token=token, settings=_settings())


def test_the_maximum_lifetime_is_a_setting() -> None:
    settings = _settings(jwt_max_lifetime=timedelta(days=30))
    assert decode_token(token=_token(timedelta(days=29)), settings=settings).sub == "ada"


def test_issuer_and_audience_are_checked_when_set() -> None:
    settings = _settings(jwt_issuer="https://id.example", jwt_audience="guichet")
    good = _token(timedelta(hours=1), iss="https://id.example", aud="guichet")
    assert decode_token(token=good, settings=settings).sub == "ada"
    for bad in (
        _token(timedelta(hours=1)),
        _token(timedelta(hours=1), iss="https://evil.example", aud="guichet"),
        _token(timedelta(hours=1), iss="https://id.example", aud="another"),
    ):
        with pytest.raises(Unauthenticated):
            decode_token(token=bad, settings=settings)
