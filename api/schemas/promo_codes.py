"""Promo-code campaigns in the back-office API."""

from __future__ import annotations

import uuid
from datetime import datetime

from fastapi import Request
from fastapi.responses import StreamingResponse
from pydantic import Field

from api.csv import attachment
from api.schemas.common import InputModel, OutputModel, UtcDatetime
from domain import codes
from domain.promo_codes import CampaignChange, CampaignStatus
from services.promo_codes import CampaignRead, export_codes


class CodeFormatIn(InputModel):
    alphabet: codes.Alphabet = Field(
        default=codes.Alphabet.CROCKFORD,
        description="`crockford` (no I, L, O, U), `digits`, or `alnum` (A-Z and digits)",
    )
    length: int = Field(
        default=codes.DEFAULT_LENGTH,
        ge=codes.FORMAT_MIN_LENGTH,
        le=codes.MAX_LENGTH,
        description="random characters",
    )
    check_character: bool = Field(
        default=True, description="one more character that refuses a one-character typo"
    )

    def domain(self) -> codes.CodeFormat:
        return codes.CodeFormat(**self.model_dump())


class CampaignIn(InputModel):
    name: str = Field(min_length=1, max_length=255, examples=["Rentrée 2026"])
    valid_until: UtcDatetime | None = Field(
        default=None, description="when its codes stop working; null: the campaign never expires"
    )
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
    max_codes_per_member: int | None = Field(
        default=None,
        ge=1,
        le=1000,
        description="how many of its codes one member may activate; null: no limit "
        "(a student may use several codes)",
    )
    code_format: CodeFormatIn | None = Field(
        default=None,
        description="null: today's format, `code_length` Crockford characters and a check "
        'character; e.g. `{"alphabet": "digits", "length": 3, "check_character": false}` '
        "for YYY-XXX-000. Its length replaces `code_length`.",
    )

    def service_arguments(self) -> dict:
        """What services.promo_codes.start_campaign takes from the request."""
        arguments = self.model_dump(
            include={
                "name",
                "client_code",
                "count",
                "code_length",
                "valid_until",
                "product_id",
                "max_codes_per_member",
            }
        )
        return arguments | {"code_format": self.code_format.domain() if self.code_format else None}


class CampaignOut(OutputModel):
    id: uuid.UUID
    name: str
    client_code: str
    code_prefix: str
    valid_until: datetime | None = Field(description="null: it never expires")
    is_active: bool = Field(description="false: disabled, its codes answer Invalid code")
    product_id: uuid.UUID
    codes_count: int
    code_length: int
    generated_count: int = Field(description="codes written so far (progress while generating)")
    used_count: int = 0
    status: CampaignStatus
    failure_reason: str | None
    max_codes_per_member: int | None
    code_format: dict | None = Field(description="null: today's Crockford format")
    created_by: str
    created_at: datetime
    updated_at: datetime


class CampaignPatch(InputModel):
    """Only what is sent changes: `valid_until` moves the end date (null: it
    never expires); `is_active` disables or enables the campaign."""

    valid_until: UtcDatetime | None = None
    is_active: bool | None = None

    def change(self) -> CampaignChange:
        sent = self.model_fields_set
        return CampaignChange(
            campaign_id=uuid.UUID(int=0),  # the route's, set by the service
            valid_until=self.valid_until,
            never_expires="valid_until" in sent and self.valid_until is None,
            is_active=self.is_active,
        )


class CodesImportedOut(OutputModel):
    imported: int
    campaign: CampaignOut


class MoreCodesIn(InputModel):
    count: int = Field(ge=1, description="codes to add; in all at most GUICHET_PROMO_MAX_CODES")


class PromoCodeOut(OutputModel):
    code: str
    used_by: str | None = Field(description="the email of the member who used it")
    activated_at: datetime | None
    revoked_at: datetime | None = Field(
        default=None, description="out of use since then (it answers Invalid code); null: usable"
    )


def campaign_out(read: CampaignRead) -> CampaignOut:
    return CampaignOut.model_validate(read.campaign).model_copy(
        update={"used_count": read.used_count}
    )


def codes_csv(request: Request, read: CampaignRead) -> StreamingResponse:
    """The campaign's codes as a CSV download (the JSON API's and the back office's)."""
    campaign = read.campaign
    return StreamingResponse(
        export_codes(engine=request.app.state.read_engine, campaign=campaign),
        media_type="text/csv; charset=utf-8",
        headers=attachment(f"codes-promo-campagne-{campaign.name}.csv"),
    )
