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
