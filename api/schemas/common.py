"""Types shared by the API schemas: money as a 2-place string, UTC datetimes."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
    field_validator,
)

from domain.catalog import CENT


def _to_utc(value: datetime) -> datetime:
    # A datetime without offset is taken as UTC, the one timezone of the API.
    try:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError:
        # 9999-12-31T23:59:59-14:00 is in year 10000 in UTC.
        raise ValueError("This date is out of range.") from None


UtcDatetime = Annotated[datetime, AfterValidator(_to_utc)]

# Out: always a string with two places ("450.00"), never a float.
MoneyOut = Annotated[
    Decimal,
    PlainSerializer(lambda value: str(value.quantize(CENT)), return_type=str),
    WithJsonSchema({"type": "string", "pattern": r"^\d+\.\d{2}$", "examples": ["450.00"]}),
]

# Out, for amounts that give money back (credit notes, refunds): "-45.00".
SignedMoneyOut = Annotated[
    Decimal,
    PlainSerializer(lambda value: str(value.quantize(CENT)), return_type=str),
    WithJsonSchema({"type": "string", "pattern": r"^-?\d+\.\d{2}$", "examples": ["-450.00"]}),
]


def _rate_text(value: Decimal) -> str:
    """0.2 as "0.20", 0.055 as "0.055": two places at least, no trailing zeros."""
    text = f"{value:.4f}".rstrip("0")
    return text + "0" * max(0, 2 - len(text.split(".")[1]))


# A rate between 0 and 1 (0.20 for 20 %), out as a string, never a float.
RateOut = Annotated[
    Decimal,
    PlainSerializer(_rate_text, return_type=str),
    WithJsonSchema({"type": "string", "pattern": r"^0\.\d{2,4}$", "examples": ["0.20"]}),
]

# A discount's rate, up to 1 (100 %): "0.20", "1.00".
DiscountRateOut = Annotated[
    Decimal,
    PlainSerializer(_rate_text, return_type=str),
    WithJsonSchema({"type": "string", "pattern": r"^(0\.\d{2,4}|1\.00)$", "examples": ["0.20"]}),
]

# In: a rate of at most four places, from 0 to below 1 (0.055 for 5.5 %).
RateIn = Annotated[
    Decimal,
    Field(ge=0, lt=1, decimal_places=4, max_digits=5),
    WithJsonSchema({"type": "string", "pattern": r"^0(\.\d{1,4})?$", "examples": ["0.20"]}),
]

# In: a decimal string (or number) with at most two places.
MoneyIn = Annotated[
    Decimal,
    Field(ge=0, le=Decimal("99999999.99"), decimal_places=2, max_digits=10),
    WithJsonSchema({"type": "string", "pattern": r"^\d+(\.\d{1,2})?$", "examples": ["450.00"]}),
]

Currency = Annotated[
    str,
    AfterValidator(str.upper),
    Field(pattern=r"^[A-Za-z]{3}$", description="ISO 4217 code", examples=["EUR"]),
]


def _contains_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_contains_nul(key) or _contains_nul(item) for key, item in value.items())
    if isinstance(value, list | tuple):
        return any(_contains_nul(item) for item in value)
    return False


def reject_nul(value: str) -> str:
    # PostgreSQL text cannot hold NUL: refuse it here as bad input, not later as a 500.
    if "\x00" in value:
        raise ValueError("Text must not contain NUL characters.")
    return value


# A string query parameter.
QueryText = Annotated[str, AfterValidator(reject_nul)]


def reject_control_characters(value: str) -> str:
    """Text that ends up in a mail header (a title in a subject, a learner's
    name or address) is one line: a CR/LF there would break the header or
    forge another one."""
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in value):
        raise ValueError("Text must fit on one line, without control characters.")
    return value


# A name or title shown in mails (subjects) and pages: one line.
OneLine = Annotated[str, AfterValidator(reject_control_characters)]


class InputModel(BaseModel):
    """Request bodies refuse unknown fields (a typo must not be silently
    ignored) and NUL characters in any text."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*", mode="before")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        if _contains_nul(value):
            raise ValueError("Text must not contain NUL characters.")
        return value


class OutputModel(BaseModel):
    # By name too: a response may be rebuilt from another response's dump.
    model_config = ConfigDict(from_attributes=True, validate_by_name=True)
