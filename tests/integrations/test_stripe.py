"""The Stripe provider with the real stripe SDK against localstripe."""

from __future__ import annotations

import socket
import uuid
from decimal import Decimal

import httpx
import pytest

from integrations.payments.base import (
    ChargeDeclined,
    Customer,
    InvalidPaymentMethod,
    ProviderUnavailable,
)
from integrations.payments.stripe import StripePaymentProvider

API_KEY = "sk_test_guichet"
LEARNER = Customer(id="learner-1", email="ada@example.org", name="Ada Lovelace")


@pytest.fixture
def provider(localstripe: str) -> StripePaymentProvider:
    return StripePaymentProvider(api_key=API_KEY, api_base=localstripe)


async def test_a_card_is_saved_on_a_customer(provider: StripePaymentProvider) -> None:
    saved = await provider.save_payment_method(token="pm_card_visa", customer=LEARNER)
    assert saved.provider == "stripe"
    assert saved.reference.startswith("pm_")
    assert saved.customer_reference and saved.customer_reference.startswith("cus_")
    assert (saved.brand, saved.last4, saved.exp_month, saved.exp_year) == ("visa", "4242", 12, 2030)
    again = await provider.save_payment_method(
        token="pm_card_visa",
        customer=LEARNER.model_copy(update={"reference": saved.customer_reference}),
    )
    assert again.customer_reference == saved.customer_reference


@pytest.mark.parametrize("token", ["pm_does_not_exist", "pm_card_visa_chargeDeclined"])
async def test_refused_cards(provider: StripePaymentProvider, token: str) -> None:
    with pytest.raises(InvalidPaymentMethod) as caught:
        await provider.save_payment_method(token=token, customer=LEARNER)
    assert caught.value.code == "invalid_payment_method"


async def _charges_of(localstripe: str, customer: str) -> list[dict]:
    """What localstripe has debited from this customer."""
    async with httpx.AsyncClient(base_url=localstripe, auth=(API_KEY, "")) as client:
        answer = await client.get("/v1/charges", params={"customer": customer, "limit": 100})
    answer.raise_for_status()
    return [charge for charge in answer.json()["data"] if charge["status"] == "succeeded"]


async def _prepare(provider: StripePaymentProvider, token: str, key: str) -> tuple[str, str]:
    saved = await provider.save_payment_method(token=token, customer=LEARNER)
    assert saved.customer_reference is not None
    reference = await provider.create_charge(
        amount=Decimal("135.00"),
        currency="EUR",
        payment_method=saved.reference,
        customer=saved.customer_reference,
        idempotency_key=key,
        description="Certificat 1/3",
    )
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
    saved = await provider.save_payment_method(token="pm_card_visa", customer=LEARNER)
    failing = await provider.save_payment_method(
        token="pm_card_chargeCustomerFail",
        customer=LEARNER.model_copy(update={"reference": saved.customer_reference}),
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
        with pytest.raises(ChargeDeclined):
            await provider.confirm_charge(reference=reference, idempotency_key="k")
    assert await _charges_of(localstripe, failing.customer_reference) == []


async def test_an_unreachable_stripe_is_an_outage() -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{unused.getsockname()[1]}"
    provider = StripePaymentProvider(api_key=API_KEY, api_base=closed)
    with pytest.raises(ProviderUnavailable):
        await provider.confirm_charge(reference="pi_unknown", idempotency_key="k")
