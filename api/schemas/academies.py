"""Response bodies of academy products, checkout intents and the sync."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import Field

from api.schemas.common import InputModel, OutputModel
from domain.academies import CatalogPrice, IntentState, SyncResult


class AcademyPriceOut(CatalogPrice, OutputModel):
    """The cached Stripe price, as the sync stored it."""


class AcademyProductOut(OutputModel):
    id: str = Field(
        description="The first non-empty of stripe_product_id, product_key, slug, uuid."
    )
    name: str
    long_name: str
    description: str
    marketing_url: str
    thumbnail_url: str
    tags: list[str]
    stripe_product_id: str
    catalog_query_id: int | None
    edx_catalog_id: int | None
    prices: list[AcademyPriceOut]


class AcademyProductList(OutputModel):
    count: int
    next: None = None
    previous: None = None
    results: list[AcademyProductOut]


class SyncStarted(OutputModel):
    workflow_id: str


class SyncStatus(OutputModel):
    workflow_id: str
    status: str = Field(description="running, completed or failed")
    result: SyncResult | None = None


class CheckoutIntentIn(InputModel):
    academy: str = Field(
        min_length=1, max_length=255, description="slug, product key, Stripe product id or uuid"
    )


class CheckoutIntentOut(OutputModel):
    id: uuid.UUID
    academy_id: uuid.UUID
    stripe_product_id: str
    state: IntentState
    expires_at: datetime
    stripe_checkout_session_id: str | None
    checkout_url: str | None = Field(
        description="Where the learner pays while the intent is `created`; null after."
    )
    stripe_customer_id: str | None
    last_error: str | None
    created_at: datetime
    updated_at: datetime
