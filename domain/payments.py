"""Cards saved under strong customer authentication (PSD2): what the learner
gives to save a card, and the setup a provider answers with. Pure data and
rules, no I/O."""

from __future__ import annotations

from datetime import datetime, timedelta
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


class ChargeAction(BaseModel):
    """An off-session charge the bank wants the learner to authenticate: the
    front end confirms it on-session with `client_secret` (Stripe.js), or
    sends the learner to `next_action_url` where the provider has a page."""

    client_secret: str
    next_action_url: str | None = None


# The decline code an installment waiting for the learner's authentication
# keeps (Stripe's, for an off-session charge that needs 3-D Secure).
AUTHENTICATION_REQUIRED = "authentication_required"


def requires_authentication(setup: CardSetup) -> DomainError:
    return PaymentMethodRequiresAuthentication(
        "The bank asks the learner to authenticate this card before it is saved.",
        details=setup.model_dump(),
    )


# --- dunning: refused installments recover by themselves ----------------------------

# Declines no retry can cure: the card is gone, wrong or refused for good.
# Any other code, an unknown one included, is soft (Stripe's and Chargebee's
# practice: insufficient funds, processing errors, velocity limits pass).
HARD_DECLINES = frozenset(
    {
        "lost_card",
        "stolen_card",
        "expired_card",
        "incorrect_number",
        "invalid_number",
        "incorrect_cvc",
        "invalid_cvc",
        "invalid_expiry_month",
        "invalid_expiry_year",
        "pickup_card",
        "fraudulent",
        "merchant_blacklist",
        "restricted_card",
        "card_not_supported",
        "currency_not_supported",
        "invalid_account",
        "new_account_information_available",
        "revocation_of_all_authorizations",
        "revocation_of_authorization",
        "security_violation",
        "stop_payment_order",
        "transaction_not_allowed",
        # Off-session, nobody can authenticate: only the learner can pay it.
        "authentication_required",
        "payment_intent_authentication_failure",
    }
)
DEFAULT_RETRY_DELAYS = (timedelta(days=1), timedelta(days=3), timedelta(days=7))
DEFAULT_GRACE_PERIOD = timedelta(days=14)


def is_hard_decline(code: str | None) -> bool:
    return code in HARD_DECLINES


class DunningPolicy(BaseModel):
    """When a refused installment is charged again by itself, from the
    settings at the order's creation (GUICHET_DUNNING_RETRY_DELAYS)."""

    # Counted from the first refusal: one automatic retry per delay.
    retry_delays: tuple[timedelta, ...] = DEFAULT_RETRY_DELAYS
    # Still unpaid this long after the first refusal, the order's enrollments
    # are suspended until it is paid (GUICHET_DUNNING_GRACE_PERIOD).
    grace_period: timedelta = DEFAULT_GRACE_PERIOD

    def next_retry_at(
        self, *, first_refused_at: datetime | None, refusals: int, decline_code: str | None
    ) -> datetime | None:
        """When to charge the saved card again after `refusals` refusals (the
        first included), or None: a hard decline, or every retry spent; the
        order then waits for the learner (a new card, or pay now)."""
        if first_refused_at is None or refusals < 1 or is_hard_decline(decline_code):
            return None
        index = refusals - 1
        if index >= len(self.retry_delays):
            return None
        return first_refused_at + self.retry_delays[index]


class CheckoutRequest(BaseModel):
    """A hosted checkout for a subscription: the academy's recurring price,
    for the learner, paid on the provider's page."""

    intent_id: str
    customer: Customer
    price_id: str
    # What the dummy page shows (Stripe shows its own).
    label: str
    amount: int | None = None
    currency: str = "eur"
    interval: str = "month"
    success_url: str
    cancel_url: str
    # Stripe keeps a session open 30 minutes to 24 hours.
    expires_at: datetime


class CheckoutSession(BaseModel):
    reference: Reference
    url: Annotated[str, Field(min_length=1, max_length=2000)]
    customer_reference: str | None = None
