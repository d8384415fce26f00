"""Contract signatures: what a provider tells us, and what the signature
workflow carries. Pure data and rules, no I/O."""

from __future__ import annotations

import uuid
from datetime import timedelta
from enum import StrEnum

from pydantic import BaseModel, Field, field_validator

from domain.errors import Conflict, error_class

OrderNotSignable = error_class(Conflict, "order_not_signable")


class Recipient(StrEnum):
    STUDENT = "student"
    ORGANIZATION = "organization"


class NotificationEvent(StrEnum):
    RECIPIENT_FINISHED = "recipient_finished"
    RECIPIENT_REFUSED = "recipient_refused"


class SignatureState(BaseModel):
    """Who has signed, as the provider says now."""

    student: bool = False
    organization: bool = False
    refused: bool = False

    @property
    def fully_signed(self) -> bool:
        return self.student and self.organization


class Notification(BaseModel):
    """A verified webhook: a hint that the procedure moved."""

    # Stored as keys (inbound events, procedures): bounded, one line.
    event_id: str = Field(min_length=1, max_length=255)
    reference: str = Field(min_length=1, max_length=255)
    event: NotificationEvent
    recipient: Recipient | None = None

    @field_validator("event_id", "reference")
    @classmethod
    def _printable(cls, value: str) -> str:
        return cls.check_event_id(value)

    @staticmethod
    def check_event_id(value: str) -> str:
        if len(value) > 255 or any(ord(char) < 0x20 or ord(char) == 0x7F for char in value):
            raise ValueError("an id of at most 255 printable characters")
        return value


class Signer(BaseModel):
    name: str
    email: str


class Submission(BaseModel):
    reference: str
    invitation_link: str


class SignatureWorkflowInput(BaseModel):
    contract_id: uuid.UUID
    order_workflow_id: str
    poll_interval: timedelta
    poll_max_interval: timedelta
    validity: timedelta
    # The procedure the order workflow has started (and told the learner
    # of); None for runs that start it themselves (before issue 13's rebuild).
    submission: Submission | None = None
    # What operators find the procedure by (search attributes): ids only.
    learner: str | None = None
    organization_code: str | None = None


def next_poll_interval(current: timedelta, maximum: timedelta) -> timedelta:
    """Poll often at first, when a signature is most likely, then back off."""
    return min(current * 2, maximum)
