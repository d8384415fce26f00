"""No secret, card number or token in the logs (spec 60-quality).

Every logger at DEBUG while the stack does what handles secrets: Stripe
calls with the API key (localstripe), signed Stripe webhooks, a forged one,
a learner's bearer token, a back-office login by token, a promo code
activated, and a body carrying a card number and its CVC where none belongs.
The captured log lines, and what the processes printed, must hold none of
them."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import httpx
import pytest

from logs import configure_logging
from settings import LogFormat
from tests.api.test_installments import _paid_order, _until
from tests.api.test_payments_stripe import (  # noqa: F401 - fixtures
    API_KEY,
    _post,
    _signed,
    live,
    settings,
    webhook_secret,
)
from tests.conftest import TEST_JWT_SECRET, token_for
from tests.factories import Factory
from tests.security.test_role_matrix import _a_valid_code

CARD_NUMBER = "4242424242424242"
NOISY = ("httpx", "httpcore", "aiosqlite", "temporalio.activity", "temporalio.workflow")
CVC = "737"


@pytest.fixture
def production_logging(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """The processes' own logging set-up at its most verbose, captured."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level, {name: logging.getLogger(name).level for name in NOISY}
    configure_logging(level="DEBUG", log_format=LogFormat.JSON)
    root.addHandler(caplog.handler)
    yield
    root.handlers[:], level, levels = saved
    root.setLevel(level)
    for name, value in levels.items():
        logging.getLogger(name).setLevel(value)


async def test_no_secret_reaches_the_logs(
    production_logging: None,
    live: str,  # noqa: F811
    webhook_secret: str,  # noqa: F811
    factory: Factory,
    sessionmaker,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    learner_token = token_for(sub="quiet-learner", roles=[])
    admin_token = token_for(sub="quiet-admin", roles=["admin"])
    code = await _a_valid_code(sessionmaker, factory)
    headers = {"Authorization": f"Bearer {learner_token}"}
    async with httpx.AsyncClient(base_url=live, headers=headers, timeout=30) as learner:
        order = await _paid_order(learner, factory, "pm_card_visa")
        # Card data where none belongs: refused, and not echoed to the logs.
        misplaced = await learner.post(
            f"/api/v1/orders/{order['id']}/payment-method",
            json={"card": {"number": CARD_NUMBER, "cvc": CVC, "exp_month": 12}},
        )
        assert misplaced.status_code == 422
        await _until(learner, order["id"], "completed")
        cart = (await learner.get("/api/v2/carts")).json()
        activated = await learner.post(
            f"/api/v2/carts/{cart['id']}/promocodes/activate", json={"promocode": code}
        )
        assert activated.status_code == 200, activated.text
    forged, _ = _signed({"id": "evt_forged", "type": "charge.refunded"}, "whsec_not_ours")
    assert (await _post(live, forged, "t=1,v1=00")).status_code == 401
    async with httpx.AsyncClient(base_url=live) as browser:
        form = await browser.get("/backoffice/login")
        csrf = form.text.split('name="csrf_token" value="')[1].split('"')[0]
        login = await browser.post(
            "/backoffice/login", data={"token": admin_token, "csrf_token": csrf}
        )
        assert login.status_code == 303, login.text
        assert (await browser.get("/backoffice/orders")).status_code == 200

    printed = capfd.readouterr()
    logged = caplog.text + printed.out + printed.err
    assert len(caplog.records) > 50  # the logs were really captured, at DEBUG
    secrets = {
        "JWT secret": TEST_JWT_SECRET,
        "learner token": learner_token,
        "admin token": admin_token,
        "Stripe API key": API_KEY,
        "Stripe webhook secret": webhook_secret,
        "card number": CARD_NUMBER,
        "promo code": code,
    }
    leaked = [name for name, secret in secrets.items() if secret in logged]
    assert leaked == [], f"in the logs: {leaked}"
