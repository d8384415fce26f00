"""Request and response bodies of CPF deep links."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, Field

from api.schemas.common import InputModel, OutputModel
from domain.deep_links import InvalidDeepLink, normalize_deep_link


def _valid_link(value: str) -> str:
    try:
        return normalize_deep_link(value)
    except InvalidDeepLink as error:
        raise ValueError(error.message) from None


DeepLinkUrl = Annotated[
    str,
    Field(
        max_length=2000,
        examples=[
            "https://www.moncompteformation.gouv.fr/espace-prive/html/#/formation/recherche/123"
        ],
    ),
    AfterValidator(_valid_link),
]


class DeepLinkCreate(InputModel):
    organization_id: uuid.UUID
    deep_link: DeepLinkUrl
    is_active: bool = False


class DeepLinkUpdate(InputModel):
    deep_link: DeepLinkUrl | None = None
    is_active: bool | None = None


class DeepLinksActivation(InputModel):
    is_active: bool


class DeepLinkOut(OutputModel):
    id: uuid.UUID
    offering_id: uuid.UUID
    organization_id: uuid.UUID
    deep_link: str
    is_active: bool
    created_at: datetime
    updated_at: datetime


class ServedDeepLink(OutputModel):
    deep_link: str | None = Field(
        description="One of the offering's active links, chosen uniformly at random; "
        "null when it has none."
    )
