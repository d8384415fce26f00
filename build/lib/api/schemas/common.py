"""Types shared by the API schemas: money as a 2-place string, UTC datetimes."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PlainSerializer, WithJsonSchema

from domain.catalog import CENT


def _to_utc(value: datetime) -> datetime:
    # A datetime without offset is taken as UTC, the one timezone of the API.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


UtcDatetime = Annotated[datetime, AfterValidator(_to_utc)]

# Out: always a string with two places ("450.00"), never a float.
MoneyOut = Annotated[
    Decimal,
    PlainSerializer(lambda value: str(value.quantize(CENT)), return_type=str),
    WithJsonSchema({"type": "string", "pattern": r"^\d+\.\d{2}$", "examples": ["450.00"]}),
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


class InputModel(BaseModel):
    """Request bodies refuse unknown fields: a typo must not be silently ignored."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class OutputModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)
