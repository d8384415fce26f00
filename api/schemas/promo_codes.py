"""Promo-code campaigns in the back-office API."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import Field

from api.schemas.common import InputModel, OutputModel, UtcDatetime
from domain import codes
from domain.promo_codes import CampaignStatus


class CampaignIn(InputModel):
    name: str = Field(min_length=1, max_length=255, examples=["Rentrée 2026"])
    valid_until: UtcDatetime
    count: int = Field(ge=1, description="how many codes; at most GUICHET_PROMO_MAX_CODES")
    product_id: uuid.UUID = Field(description="a `membership` product: what a code gives")
    client_code: str | None = Field(
        default=None, min_length=1, max_length=16, description="default GUICHET_PROMO_CLIENT_CODE"
    )
    code_length: int = Field(
        default=codes.DEFAULT_LENGTH,
        ge=codes.MIN_LENGTH,
        le=codes.MAX_LENGTH,
        description="characters of the random part (5 bits each)",
    )


class CampaignOut(OutputModel):
    id: uuid.UUID
    name: str
    client_code: str
    code_prefix: str
    valid_until: datetime
    product_id: uuid.UUID
    codes_count: int
    code_length: int
    generated_count: int = Field(description="codes written so far (progress while generating)")
    used_count: int = 0
    status: CampaignStatus
    failure_reason: str | None
    created_by: str
    created_at: datetime
    updated_at: datetime


class PromoCodeOut(OutputModel):
    code: str
    used_by: str | None = Field(description="the email of the member who used it")
    activated_at: datetime | None
