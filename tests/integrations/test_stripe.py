"""The Stripe provider with the real stripe SDK against localstripe."""

from __future__ import annotations

import pytest

from integrations.payments.base import Customer, InvalidPaymentMethod
from integrations.payments.stripe import StripePaymentProvider

LEARNER = Customer(id="learner-1", email="ada@example.org", name="Ada Lovelace")


@pytest.fixture
def provider(localstripe: str) -> StripePaymentProvider:
    return StripePaymentProvider(api_key="sk_test_guichet", api_base=localstripe)


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


async def test_off_session_charges(provider: StripePaymentProvider) -> None:
    from decimal import Decimal

    from integrations.payments.base import ChargeDeclined

    saved = await provider.save_payment_method(token="pm_card_visa", customer=LEARNER)
    charged = await provider.charge(
        amount=Decimal("135.00"),
        currency="EUR",
        payment_method=saved.reference,
        customer=saved.customer_reference,
        idempotency_key="installment:test-1",
        description="Certificat 1/3",
    )
    assert charged.reference.startswith("pi_")
    failing = await provider.save_payment_method(
        token="pm_card_chargeCustomerFail",
        customer=LEARNER.model_copy(update={"reference": saved.customer_reference}),
    )
    with pytest.raises(ChargeDeclined):
        await provider.charge(
            amount=Decimal("157.50"),
            currency="EUR",
            payment_method=failing.reference,
            customer=failing.customer_reference,
            idempotency_key="installment:test-2",
            description="Certificat 2/3",
        )
