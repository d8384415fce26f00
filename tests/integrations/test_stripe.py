"""The Stripe provider with the real stripe SDK against localstripe."""

from __future__ import annotations

import socket
import uuid
from decimal import Decimal

import httpx
import pytest

from domain.payments import PaymentMethodRequiresAuthentication, is_hard_decline
from integrations.payments.base import (
    ChargeDeclined,
    ChargeRequiresAction,
    Customer,
    InvalidPaymentMethod,
    ProviderUnavailable,
)
from integrations.payments.stripe import StripePaymentProvider

API_KEY = "sk_test_guichet"
LEARNER = Customer(id="learner-1", email="ada@example.org", name="Ada Lovelace")
ORDER = str(uuid.uuid4())
# Stripe's test cards: the bank always asks for 3-D Secure; and none.
THREE_D_SECURE = "4000002760003184"
NO_CHALLENGE = "4242424242424242"


@pytest.fixture
def provider(localstripe: str) -> StripePaymentProvider:
    return StripePaymentProvider(api_key=API_KEY, api_base=localstripe)


async def test_a_card_is_saved_on_a_customer(provider: StripePaymentProvider) -> None:
    saved = await provider.save_payment_method(
        token="pm_card_visa", customer=LEARNER, order_id=ORDER
    )
    assert saved.provider == "stripe"
    assert saved.reference.startswith("pm_")
    assert saved.customer_reference and saved.customer_reference.startswith("cus_")
    assert (saved.brand, saved.last4, saved.exp_month, saved.exp_year) == ("visa", "4242", 12, 2030)
    again = await provider.save_payment_method(
        token="pm_card_visa",
        customer=LEARNER.model_copy(update={"reference": saved.customer_reference}),
        order_id=ORDER,
    )
    assert again.customer_reference == saved.customer_reference


@pytest.mark.parametrize("token", ["pm_does_not_exist", "pm_card_visa_chargeDeclined"])
async def test_refused_cards(provider: StripePaymentProvider, token: str) -> None:
    with pytest.raises(InvalidPaymentMethod) as caught:
        await provider.save_payment_method(token=token, customer=LEARNER, order_id=ORDER)
    assert caught.value.code == "invalid_payment_method"


async def _charges_of(localstripe: str, customer: str) -> list[dict]:
    """What localstripe has debited from this customer."""
    async with httpx.AsyncClient(base_url=localstripe, auth=(API_KEY, "")) as client:
        answer = await client.get("/v1/charges", params={"customer": customer, "limit": 100})
    answer.raise_for_status()
    return [charge for charge in answer.json()["data"] if charge["status"] == "succeeded"]


async def _prepared(provider: StripePaymentProvider, saved, key: str) -> str:
    return await provider.create_charge(
        amount=Decimal("135.00"),
        currency="EUR",
        payment_method=saved.reference,
        customer=saved.customer_reference,
        idempotency_key=key,
        description="Certificat 1/3",
    )


async def _prepare(provider: StripePaymentProvider, token: str, key: str) -> tuple[str, str]:
    saved = await provider.save_payment_method(token=token, customer=LEARNER, order_id=ORDER)
    assert saved.customer_reference is not None
    reference = await _prepared(provider, saved, key)
    return reference, saved.customer_reference


async def test_a_prepared_charge_debits_nothing_until_confirmed(
    provider: StripePaymentProvider, localstripe: str
) -> None:
    reference, customer = await _prepare(provider, "pm_card_visa", f"installment:{uuid.uuid4()}")
    assert reference.startswith("pi_")
    assert await _charges_of(localstripe, customer) == []
    charged = await provider.confirm_charge(reference=reference, idempotency_key="k")
    assert charged.reference == reference
    [charge] = await _charges_of(localstripe, customer)
    assert charge["amount"] == 13500 and charge["currency"] == "eur"


async def test_confirming_again_reads_the_verdict_and_never_debits_twice(
    provider: StripePaymentProvider, localstripe: str
) -> None:
    """What a worker restarted after a crash does with the stored reference."""
    reference, customer = await _prepare(provider, "pm_card_visa", f"installment:{uuid.uuid4()}")
    for _ in range(3):
        charged = await provider.confirm_charge(reference=reference, idempotency_key="k")
        assert charged.reference == reference
    assert len(await _charges_of(localstripe, customer)) == 1


async def test_a_declined_charge_stays_declined(
    provider: StripePaymentProvider, localstripe: str
) -> None:
    saved = await provider.save_payment_method(
        token="pm_card_visa", customer=LEARNER, order_id=ORDER
    )
    failing = await provider.save_payment_method(
        token="pm_card_chargeCustomerFail",
        customer=LEARNER.model_copy(update={"reference": saved.customer_reference}),
        order_id=ORDER,
    )
    assert failing.customer_reference is not None
    reference = await provider.create_charge(
        amount=Decimal("157.50"),
        currency="EUR",
        payment_method=failing.reference,
        customer=failing.customer_reference,
        idempotency_key=f"installment:{uuid.uuid4()}",
        description="Certificat 2/3",
    )
    for _ in range(2):
        with pytest.raises(ChargeDeclined) as caught:
            await provider.confirm_charge(reference=reference, idempotency_key="k")
        # The decline code the dunning ladder reads (soft: retried by itself).
        assert caught.value.code == "card_declined"
    assert await _charges_of(localstripe, failing.customer_reference) == []


async def test_an_unreachable_stripe_is_an_outage() -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{unused.getsockname()[1]}"
    provider = StripePaymentProvider(api_key=API_KEY, api_base=closed)
    with pytest.raises(ProviderUnavailable):
        await provider.confirm_charge(reference="pi_unknown", idempotency_key="k")


# --- cards saved through a SetupIntent (3-D Secure) ------------------------------------


async def _card(localstripe: str, number: str) -> str:
    """A PaymentMethod as Stripe.js makes it from the card the learner typed."""
    async with httpx.AsyncClient(base_url=localstripe, auth=(API_KEY, "")) as client:
        answer = await client.post(
            "/v1/payment_methods",
            data={
                "type": "card",
                "card[number]": number,
                "card[exp_month]": "12",
                "card[exp_year]": "2031",
                "card[cvc]": "123",
            },
        )
    answer.raise_for_status()
    return answer.json()["id"]


async def _stripe_js_confirms(localstripe: str, setup: str, method: str | None) -> dict:
    """What Stripe.js does in the learner's browser with the client secret
    (localstripe takes a second confirm as the passed challenge)."""
    data = {"payment_method": method} if method else {}
    async with httpx.AsyncClient(base_url=localstripe, auth=(API_KEY, "")) as client:
        answer = await client.post(f"/v1/setup_intents/{setup}/confirm", data=data)
    answer.raise_for_status()
    return answer.json()


async def test_a_setup_confirmed_without_a_challenge_saves_the_card(
    provider: StripePaymentProvider, localstripe: str
) -> None:
    setup = await provider.create_setup(customer=LEARNER, order_id=ORDER, token=None)
    assert setup.provider == "stripe" and setup.setup_reference.startswith("seti_")
    assert setup.client_secret.startswith(setup.setup_reference + "_secret_")
    method = await _card(localstripe, NO_CHALLENGE)
    confirmed = await _stripe_js_confirms(localstripe, setup.setup_reference, method)
    assert confirmed["status"] == "succeeded"
    saved = await provider.saved_from_setup(
        reference=setup.setup_reference, customer=LEARNER, order_id=ORDER
    )
    assert (saved.reference, saved.last4, saved.setup_reference) == (
        method,
        "4242",
        setup.setup_reference,
    )
    assert saved.customer_reference and saved.customer_reference.startswith("cus_")


async def test_a_card_that_needs_3d_secure_is_saved_once_the_learner_authenticates(
    provider: StripePaymentProvider, localstripe: str
) -> None:
    setup = await provider.create_setup(customer=LEARNER, order_id=ORDER, token=None)
    method = await _card(localstripe, THREE_D_SECURE)
    assert (await _stripe_js_confirms(localstripe, setup.setup_reference, method))[
        "status"
    ] == "requires_action"
    with pytest.raises(PaymentMethodRequiresAuthentication) as waiting:
        await provider.saved_from_setup(
            reference=setup.setup_reference, customer=LEARNER, order_id=ORDER
        )
    assert waiting.value.status == 409
    assert waiting.value.details["client_secret"] == setup.client_secret
    await _stripe_js_confirms(localstripe, setup.setup_reference, None)  # challenge passed
    saved = await provider.saved_from_setup(
        reference=setup.setup_reference, customer=LEARNER, order_id=ORDER
    )
    assert saved.last4 == THREE_D_SECURE[-4:]


async def test_a_setup_serves_only_the_order_it_was_made_for(
    provider: StripePaymentProvider, localstripe: str
) -> None:
    setup = await provider.create_setup(customer=LEARNER, order_id=ORDER, token="pm_card_visa")
    with pytest.raises(InvalidPaymentMethod):
        await provider.saved_from_setup(
            reference=setup.setup_reference, customer=LEARNER, order_id=str(uuid.uuid4())
        )


async def test_a_bare_token_goes_through_a_setup_and_may_need_the_learner(
    provider: StripePaymentProvider, localstripe: str
) -> None:
    """Never a bare attach: a card the bank challenges gives the setup back
    for the front end to finish."""
    method = await _card(localstripe, THREE_D_SECURE)
    with pytest.raises(PaymentMethodRequiresAuthentication) as waiting:
        await provider.save_payment_method(token=method, customer=LEARNER, order_id=ORDER)
    reference = waiting.value.details["setup_reference"]
    assert reference.startswith("seti_")
    await _stripe_js_confirms(localstripe, reference, None)
    saved = await provider.saved_from_setup(reference=reference, customer=LEARNER, order_id=ORDER)
    assert saved.reference == method


# --- off-session charges the bank wants the learner to authenticate -----------------


async def _saved_3ds_card(provider: StripePaymentProvider, localstripe: str):
    """A 3-D Secure card saved through its setup, the challenge passed."""
    setup = await provider.create_setup(customer=LEARNER, order_id=ORDER, token=None)
    method = await _card(localstripe, THREE_D_SECURE)
    await _stripe_js_confirms(localstripe, setup.setup_reference, method)
    await _stripe_js_confirms(localstripe, setup.setup_reference, None)
    return await provider.saved_from_setup(
        reference=setup.setup_reference, customer=LEARNER, order_id=ORDER
    )


async def _authenticate(localstripe: str, reference: str, secret: str, success: bool) -> None:
    """The learner's on-session confirmation with Stripe.js (localstripe's
    stand-in for the bank's challenge)."""
    async with httpx.AsyncClient(base_url=localstripe, auth=(API_KEY, "")) as client:
        answer = await client.post(
            f"/v1/payment_intents/{reference}/_authenticate",
            data={"client_secret": secret, "success": "true" if success else "false"},
        )
    answer.raise_for_status()


async def test_an_off_session_charge_that_needs_the_learner_waits_for_them(
    provider: StripePaymentProvider, localstripe: str
) -> None:
    """requires_action is no refusal: nothing is debited, asking again says
    the same, and once the learner authenticates on-session it is paid."""
    saved = await _saved_3ds_card(provider, localstripe)
    key = f"installment:{uuid.uuid4()}"
    reference = await _prepared(provider, saved, key)
    for _ in range(2):
        with pytest.raises(ChargeRequiresAction):
            await provider.confirm_charge(reference=reference, idempotency_key=key)
    action = await provider.charge_action(reference=reference, idempotency_key=key)
    assert action.client_secret.startswith(reference + "_secret_")
    assert saved.customer_reference is not None
    assert await _charges_of(localstripe, saved.customer_reference) == []
    await _authenticate(localstripe, reference, action.client_secret, success=True)
    charged = await provider.confirm_charge(reference=reference, idempotency_key=key)
    assert charged.reference == reference
    [charge] = await _charges_of(localstripe, saved.customer_reference)
    assert charge["amount"] == 13500


async def _waiting_charge(provider: StripePaymentProvider, localstripe: str):
    """An off-session charge of a 3-D Secure card, waiting for the learner:
    (the card, the key, the charge, what the front end confirms it with)."""
    saved = await _saved_3ds_card(provider, localstripe)
    key = f"installment:{uuid.uuid4()}"
    reference = await _prepared(provider, saved, key)
    with pytest.raises(ChargeRequiresAction):
        await provider.confirm_charge(reference=reference, idempotency_key=key)
    action = await provider.charge_action(reference=reference, idempotency_key=key)
    return saved, key, reference, action


async def test_a_failed_authentication_is_a_refusal_nothing_retries(
    provider: StripePaymentProvider, localstripe: str
) -> None:
    _, key, reference, action = await _waiting_charge(provider, localstripe)
    await _authenticate(localstripe, reference, action.client_secret, success=False)
    with pytest.raises(ChargeDeclined) as caught:
        await provider.confirm_charge(reference=reference, idempotency_key=key)
    assert caught.value.code == "payment_intent_authentication_failure"
    assert is_hard_decline(caught.value.code)


async def test_a_charge_withdrawn_for_another_card_can_no_longer_be_paid(
    provider: StripePaymentProvider, localstripe: str
) -> None:
    """The learner pays with another card: the charge waiting for them is
    canceled, and an authentication that comes late takes nothing."""
    saved, key, reference, action = await _waiting_charge(provider, localstripe)
    await provider.cancel_charge(reference=reference, idempotency_key=key)
    await provider.cancel_charge(reference=reference, idempotency_key=key)  # twice: no error
    with pytest.raises(ChargeDeclined):
        await provider.confirm_charge(reference=reference, idempotency_key=key)
    with pytest.raises(httpx.HTTPStatusError):
        await _authenticate(localstripe, reference, action.client_secret, success=True)
    assert saved.customer_reference is not None
    assert await _charges_of(localstripe, saved.customer_reference) == []
