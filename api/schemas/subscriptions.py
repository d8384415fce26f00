"""Response bodies of academy subscriptions."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import Field

from api.schemas.common import OutputModel
from domain.subscriptions import SubscriptionStatus


class SubscribedAcademy(OutputModel):
    id: uuid.UUID
    name: str
    product_id: str = Field(description="As in the academy products: its public id.")


class SubscriptionOut(OutputModel):
    id: uuid.UUID
    academy: SubscribedAcademy
    status: SubscriptionStatus = Field(
        description="As the payment provider says: `active`, `past_due` (a payment failed, "
        "retried: the academy stays open), `canceled`…"
    )
    is_active: bool = Field(description="Whether the learner has the academy now.")
    current_period_end: datetime | None = Field(description="The end of the period paid.")
    cancel_at: datetime | None = Field(description="When it ends, once canceled.")
    canceled_at: datetime | None
    checkout_intent_id: uuid.UUID
    created_at: datetime
