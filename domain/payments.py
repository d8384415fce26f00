"""Cards saved under strong customer authentication (PSD2): what the learner
gives to save a card, and the setup a provider answers with. Pure data and
rules, no I/O."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field, model_validator

from domain.errors import Conflict, DomainError, error_class

Reference = Annotated[str, Field(min_length=1, max_length=255)]

# The bank wants the learner (3-D Secure) before the card can be saved; the
# error's details are the CardSetup to finish it with.
PaymentMethodRequiresAuthentication = error_class(
    Conflict, "payment_method_requires_authentication"
)


class PaymentProviderUnavailable(DomainError):
    """The provider cannot be reached for a call made while the learner waits."""

    status = 503
    code = "payment_provider_unavailable"


class CardSource(BaseModel):
    """Where the card to save comes from: a token of the provider's front-end
    SDK, or a setup the learner has confirmed (and authenticated) with it."""

    token: Reference | None = None
    setup_reference: Reference | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> CardSource:
        if (self.token is None) == (self.setup_reference is None):
            raise ValueError("give either a payment method token or a setup reference")
        return self


class Customer(BaseModel):
    """The learner, and their customer at the provider if they have one."""

    id: str
    email: str
    name: str
    reference: str | None = None


class CardSetup(BaseModel):
    """A card setup at the provider (Stripe: a SetupIntent with usage
    off_session): the front end confirms it with `client_secret`; when the
    bank wants a challenge and the front end cannot play it (the dummy
    backend), `next_action_url` is where the learner goes."""

    provider: str
    setup_reference: str
    client_secret: str
    next_action_url: str | None = None


def requires_authentication(setup: CardSetup) -> DomainError:
    return PaymentMethodRequiresAuthentication(
        "The bank asks the learner to authenticate this card before it is saved.",
        details=setup.model_dump(),
    )
