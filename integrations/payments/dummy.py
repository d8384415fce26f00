"""The embedded default: no provider, Stripe-like test tokens.

`pm_card_visa` and `pm_card_mastercard` pay; the declining tokens save fine
and are declined when charged, with the decline code of Stripe's test card of
the same name (DECLINES: `pm_card_chargeDeclined` generic_decline,
`pm_card_insufficientFunds` and `pm_card_chargeDeclinedInsufficientFunds`
insufficient_funds, `pm_card_chargeDeclinedProcessingError` processing_error:
soft, retried by the dunning ladder; `pm_card_chargeDeclinedLostCard`
lost_card, `pm_card_chargeDeclinedExpiredCard` expired_card: hard);
`pm_card_insufficientFundsOnce` is refused (insufficient_funds) at each
installment's first attempt and pays at the next, as an account topped up; `pm_card_providerOutage` makes the "provider" unavailable
for the first OUTAGE_ATTEMPTS tries of each charge, then pays;
`pm_card_asyncConfirmation` answers "processing" once, then pays;
`pm_card_authenticationRequiredOnSetup` needs the bank's challenge before it
is saved (the challenge is a page of ours, DUMMY_SETUP_PAGE, with
Authenticate and Fail buttons), later charges pass;
`pm_card_expiresThisMonth` pays but expires at the end of the month it is
saved in (card_expiring); `pm_card_authenticationRequired` is saved without one, but every charge of
it waits for the learner to pass the challenge (DUMMY_CHARGE_PAGE): passed,
the charge pays; failed, it is declined (payment_intent_authentication_failure).
Any other token is
refused. Charges are kept (see models/payments.py) by idempotency
key: the same key never prepares or debits twice.

Its webhooks are Guichet's own PaymentEvent as JSON, signed like the dummy
signature backend's (`x-guichet-signature`: HMAC-SHA256 of the body under
GUICHET_JWT_SECRET's derived key): a test or a demo can deliver any event,
late or out of order, to the embedded stack.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, Protocol

from pydantic import BaseModel, ValidationError

from domain.errors import MalformedNotification, NotFound, Unverifiable, error_class
from domain.payments import (
    CardSetup,
    ChargeAction,
    CheckoutRequest,
    CheckoutSession,
    requires_authentication,
)
from domain.subscriptions import CancelAnswer
from integrations.payloads import SIGNATURE_HEADER, is_signed, strict_json
from integrations.payments import dummy_checkout
from integrations.payments.base import (
    ChargeDeclined,
    ChargePending,
    ChargeRequiresAction,
    ChargeResult,
    Customer,
    InvalidPaymentMethod,
    PaymentEvent,
    ProviderUnavailable,
    SavedPaymentMethod,
)

# token -> (brand, last4): the last digits of Stripe's matching test cards.
TEST_CARDS: dict[str, tuple[str, str]] = {
    "pm_card_visa": ("visa", "4242"),
    "pm_card_mastercard": ("mastercard", "4444"),
    "pm_card_chargeDeclined": ("visa", "0002"),
    "pm_card_insufficientFunds": ("visa", "9995"),
    "pm_card_providerOutage": ("visa", "0019"),
    "pm_card_asyncConfirmation": ("visa", "0077"),
    "pm_card_authenticationRequiredOnSetup": ("visa", "3155"),
    "pm_card_authenticationRequired": ("visa", "3184"),
    "pm_card_chargeDeclinedInsufficientFunds": ("visa", "9995"),
    "pm_card_chargeDeclinedLostCard": ("visa", "9987"),
    "pm_card_chargeDeclinedExpiredCard": ("visa", "0069"),
    "pm_card_chargeDeclinedProcessingError": ("visa", "0119"),
    "pm_card_insufficientFundsOnce": ("visa", "9996"),
    "pm_card_expiresThisMonth": ("visa", "1117"),
}
# token -> the decline code its charges get.
DECLINES: dict[str, str] = {
    "pm_card_chargeDeclined": "generic_decline",
    "pm_card_insufficientFunds": "insufficient_funds",
    "pm_card_chargeDeclinedInsufficientFunds": "insufficient_funds",
    "pm_card_chargeDeclinedLostCard": "lost_card",
    "pm_card_chargeDeclinedExpiredCard": "expired_card",
    "pm_card_chargeDeclinedProcessingError": "processing_error",
}
DECLINED_ONCE = "pm_card_insufficientFundsOnce"
# The bank challenges the learner when these are saved.
CHALLENGED_ON_SETUP = frozenset({"pm_card_authenticationRequiredOnSetup"})
# The bank challenges the learner at every charge of these.
CHALLENGED_ON_CHARGE = frozenset({"pm_card_authenticationRequired"})
DUMMY_SETUP_PAGE = "/api/v1/dummy-payments/setups"
DUMMY_CHARGE_PAGE = "/api/v1/dummy-payments/charges"
SETUP_PREFIX = "setup:"
# A charge's challenge, kept under `action:<charge reference>`.
ACTION_PREFIX = "action:"
AUTHENTICATION_FAILED = "payment_intent_authentication_failure"

SetupNotFound = error_class(NotFound, "setup_not_found")


class SetupStatus(StrEnum):
    REQUIRES_ACTION = "requires_action"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


OUTAGE = "pm_card_providerOutage"
OUTAGE_ATTEMPTS = 2
ASYNC_CONFIRMATION = "pm_card_asyncConfirmation"


class DummyCharge(BaseModel):
    """What the dummy provider made, under its idempotency key: a charge, a
    refund (`refunded_charge`), a card setup (key `setup:<reference>`,
    `setup_status`) or a charge's challenge (key `action:<charge reference>`,
    `setup_status`, the charge's `charge_key`)."""

    key: str
    reference: str | None = None
    payment_method: str | None = None
    confirmed: bool = False
    declined: bool = False
    decline_code: str | None = None
    unavailable_attempts: int = 0
    processing_answers: int = 0
    # Set on refunds: the charge they give back.
    refunded_charge: str | None = None
    # Set on card setups.
    setup_status: SetupStatus | None = None
    order_id: str | None = None
    client_secret: str | None = None
    charge_key: str | None = None


class ChargeStore(Protocol):
    """Where the dummy charges live (the database; see models/payments.py)."""

    async def load(self, key: str) -> DummyCharge | None: ...

    async def save(self, charge: DummyCharge) -> None: ...


EXPIRY = (12, 2034)
# Valid until the end of the month it is saved in (card_expiring).
EXPIRES_THIS_MONTH = "pm_card_expiresThisMonth"


class DummyPaymentProvider:
    name = "dummy"

    def __init__(self, *, store: ChargeStore, webhook_secret: str, public_url: str) -> None:
        self._store = store
        self._webhook_secret = webhook_secret
        self._public_url = public_url.rstrip("/")

    def parse_webhook(self, *, body: bytes, headers: Mapping[str, str]) -> PaymentEvent:
        signature = headers.get(SIGNATURE_HEADER, "")
        if not is_signed(body=body, signature=signature, secret=self._webhook_secret):
            raise Unverifiable("The event signature does not match.")
        try:
            return PaymentEvent.model_validate(strict_json(body))
        except (ValueError, ValidationError):
            raise MalformedNotification("The event cannot be read.") from None

    async def create_charge(
        self,
        *,
        amount: Decimal,
        currency: str,
        payment_method: str,
        customer: str | None,
        idempotency_key: str,
        description: str,
    ) -> str:
        return await self._once(idempotency_key, "dummy_pi", payment_method=payment_method)

    async def confirm_charge(self, *, reference: str, idempotency_key: str) -> ChargeResult:
        charge = await self._store.load(idempotency_key)
        if charge is None or charge.reference != reference:
            raise ChargeDeclined("No such charge.")
        if not charge.confirmed:
            if charge.payment_method == OUTAGE and charge.unavailable_attempts < OUTAGE_ATTEMPTS:
                charge.unavailable_attempts += 1
                await self._store.save(charge)
                raise ProviderUnavailable("The dummy provider is down (simulated outage).")
            if charge.payment_method == ASYNC_CONFIRMATION and not charge.processing_answers:
                charge.processing_answers += 1
                await self._store.save(charge)
                raise ChargePending(reference)
            challenge = await self._challenge_of(charge)
            charge.confirmed = True
            charge.decline_code = (
                AUTHENTICATION_FAILED
                if challenge is SetupStatus.FAILED
                else _decline_code(charge.payment_method, idempotency_key)
            )
            charge.declined = charge.decline_code is not None
            await self._store.save(charge)
        if charge.declined:
            raise ChargeDeclined("Your card was declined.", code=charge.decline_code)
        return ChargeResult(reference=reference)

    async def _challenge_of(self, charge: DummyCharge) -> SetupStatus | None:
        """The bank's challenge of a charge that needs one, once answered;
        ChargeRequiresAction while the learner has not answered it."""
        if charge.payment_method not in CHALLENGED_ON_CHARGE:
            return None
        assert charge.reference is not None
        challenge = await self._store.load(ACTION_PREFIX + charge.reference)
        if challenge is None:
            challenge = DummyCharge(
                key=ACTION_PREFIX + charge.reference,
                reference=charge.reference,
                charge_key=charge.key,
                client_secret=f"{charge.reference}_secret_{secrets.token_hex(8)}",
                setup_status=SetupStatus.REQUIRES_ACTION,
            )
            await self._store.save(challenge)
        if challenge.setup_status is SetupStatus.REQUIRES_ACTION:
            raise ChargeRequiresAction(charge.reference)
        return challenge.setup_status

    async def charge_action(self, *, reference: str, idempotency_key: str) -> ChargeAction:
        challenge = await self._store.load(ACTION_PREFIX + reference)
        if challenge is None or challenge.client_secret is None:
            raise InvalidPaymentMethod("This charge waits for nobody's authentication.")
        return ChargeAction(
            client_secret=challenge.client_secret,
            next_action_url=self._page_url(DUMMY_CHARGE_PAGE, reference)
            if challenge.setup_status is SetupStatus.REQUIRES_ACTION
            else None,
        )

    async def cancel_charge(self, *, reference: str, idempotency_key: str) -> None:
        charge = await self._store.load(idempotency_key)
        if charge is None or charge.reference != reference or charge.confirmed:
            return  # nothing to withdraw, or it has its verdict
        charge.confirmed = charge.declined = True
        charge.decline_code = "canceled"
        await self._store.save(charge)

    async def refund(
        self, *, charge_reference: str, amount: Decimal, currency: str, idempotency_key: str
    ) -> str:
        return await self._once(idempotency_key, "dummy_re", refunded_charge=charge_reference)

    async def _once(self, key: str, prefix: str, **fields: str) -> str:
        """The reference of what `key` made, made now if it is new."""
        made = await self._store.load(key)
        if made is None:
            made = DummyCharge(key=key, reference=f"{prefix}_{uuid.uuid4().hex[:16]}", **fields)
            await self._store.save(made)
        assert made.reference is not None
        return made.reference

    # --- academy checkouts: a page of ours (dummy_checkout.py) ---------------------

    async def open_checkout(self, *, checkout: CheckoutRequest) -> CheckoutSession:
        """The dummy checkout page for this intent, for whoever holds its link."""
        page = dummy_checkout.DUMMY_CHECKOUT_PAGE
        return CheckoutSession(
            reference=dummy_checkout.session_reference(checkout.intent_id),
            url=self._page_url(page, checkout.intent_id),
            customer_reference=dummy_checkout.customer_reference(checkout.customer.id),
        )

    async def cancel_subscription(self, *, reference: str) -> CancelAnswer:
        # Canceled at the end of the period paid, which Guichet knows already.
        return CancelAnswer()

    async def recent_events(self, *, since: datetime) -> list[str]:
        return []  # its events come from our own pages: none to catch up

    async def event(self, *, event_id: str) -> tuple[PaymentEvent, Any]:
        raise MalformedNotification("The dummy provider keeps no events.")

    def check_page_key(self, *, page: str, reference: str, key: str) -> bool:
        # As bytes: compare_digest refuses a str with non-ASCII characters.
        expected = self.page_key(page, reference).encode()
        return hmac.compare_digest(key.encode(errors="replace"), expected)

    # --- card setups ----------------------------------------------------------------

    async def create_setup(
        self, *, customer: Customer, order_id: str, token: str | None
    ) -> CardSetup:
        if token is None:
            raise InvalidPaymentMethod(
                "The dummy backend takes the card with its setup: give payment_method_id."
            )
        _card(token)
        reference = f"dummy_seti_{uuid.uuid4().hex[:16]}"
        setup = DummyCharge(
            key=SETUP_PREFIX + reference,
            reference=reference,
            payment_method=token,
            order_id=order_id,
            client_secret=f"{reference}_secret_{secrets.token_hex(8)}",
            setup_status=SetupStatus.REQUIRES_ACTION
            if token in CHALLENGED_ON_SETUP
            else SetupStatus.SUCCEEDED,
        )
        await self._store.save(setup)
        return self._setup_of(setup)

    async def saved_from_setup(
        self, *, reference: str, customer: Customer, order_id: str
    ) -> SavedPaymentMethod:
        setup = await self._store.load(SETUP_PREFIX + reference)
        if setup is None or setup.order_id != order_id or setup.payment_method is None:
            raise InvalidPaymentMethod("No such card setup for this order.")
        if setup.setup_status is SetupStatus.REQUIRES_ACTION:
            raise requires_authentication(self._setup_of(setup))
        if setup.setup_status is SetupStatus.FAILED:
            raise InvalidPaymentMethod("The bank refused this card: authentication failed.")
        return self._saved(setup.payment_method, customer, setup_reference=reference)

    async def save_payment_method(
        self, *, token: str, customer: Customer, order_id: str
    ) -> SavedPaymentMethod:
        _card(token)
        if token in CHALLENGED_ON_SETUP:
            setup = await self.create_setup(customer=customer, order_id=order_id, token=token)
            raise requires_authentication(setup)
        return self._saved(token, customer)

    def page_key(self, page: str, reference: str) -> str:
        """What a challenge page's link carries: only whoever got the setup or
        the charge's action (the learner's front end) can answer the bank."""
        message = f"{page}\n{reference}".encode()
        return hmac.new(self._webhook_secret.encode(), message, hashlib.sha256).hexdigest()[:32]

    def _page_url(self, page: str, reference: str) -> str:
        return f"{self._public_url}{page}/{reference}?key={self.page_key(page, reference)}"

    async def challenged(self, *, page: str, reference: str, key: str) -> DummyCharge:
        """The setup or charge challenge a page shows; SetupNotFound for a wrong key."""
        prefix = SETUP_PREFIX if page == DUMMY_SETUP_PAGE else ACTION_PREFIX
        challenge = await self._store.load(prefix + reference)
        if challenge is None or not self.check_page_key(page=page, reference=reference, key=key):
            raise SetupNotFound("No such challenge.")
        return challenge

    async def answer_challenge(
        self, *, page: str, reference: str, key: str, authenticated: bool
    ) -> DummyCharge:
        """The learner passed (or failed) the bank's challenge; answering twice
        changes nothing."""
        challenge = await self.challenged(page=page, reference=reference, key=key)
        if challenge.setup_status is SetupStatus.REQUIRES_ACTION:
            challenge.setup_status = SetupStatus.SUCCEEDED if authenticated else SetupStatus.FAILED
            await self._store.save(challenge)
        return challenge

    def _setup_of(self, setup: DummyCharge) -> CardSetup:
        assert setup.reference is not None and setup.client_secret is not None
        needs_challenge = setup.setup_status is SetupStatus.REQUIRES_ACTION
        return CardSetup(
            provider=self.name,
            setup_reference=setup.reference,
            client_secret=setup.client_secret,
            next_action_url=self._page_url(DUMMY_SETUP_PAGE, setup.reference)
            if needs_challenge
            else None,
        )

    def _saved(
        self, token: str, customer: Customer, *, setup_reference: str | None = None
    ) -> SavedPaymentMethod:
        brand, last4 = _card(token)
        today = datetime.now(UTC)
        month, year = (today.month, today.year) if token == EXPIRES_THIS_MONTH else EXPIRY
        return SavedPaymentMethod(
            provider=self.name,
            reference=token,
            customer_reference=f"dummy_cus_{customer.id}",
            brand=brand,
            last4=last4,
            exp_month=month,
            exp_year=year,
            setup_reference=setup_reference,
        )


def _card(token: str) -> tuple[str, str]:
    """(brand, last4) of a test token; InvalidPaymentMethod for any other."""
    card = TEST_CARDS.get(token)
    if card is None:
        raise InvalidPaymentMethod(
            "Unknown payment method token; the dummy backend takes "
            + ", ".join(sorted(TEST_CARDS))
            + "."
        )
    return card


def _decline_code(token: str | None, idempotency_key: str) -> str | None:
    """The decline code of this charge, None when it pays. An installment's
    first attempt is keyed `installment:<id>`, later ones `…:<attempt>`."""
    if token == DECLINED_ONCE:
        first_attempt = idempotency_key.count(":") == 1
        return "insufficient_funds" if first_attempt else None
    return DECLINES.get(token or "")
