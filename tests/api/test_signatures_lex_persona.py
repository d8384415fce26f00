"""The order tunnel with the lex_persona backend: the fake service takes the
procedure, its signed steps reach Guichet as (verified) notifications."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from pydantic import SecretStr

from api.app import create_app
from settings import SignatureBackend
from tests.api.tunnel import CARD, contract_of, contract_order, state_is, submit
from tests.conftest import token_for
from tests.factories import Factory
from tests.fakes import serve
from tests.fakes.lex_persona import FakeLexPersona


@pytest.fixture
async def fake(port: int) -> AsyncIterator[FakeLexPersona]:
    server = FakeLexPersona(
        token="lp-token",
        user_id="usr_1",
        webhook_url=f"http://127.0.0.1:{port}/api/v1/webhooks/signature/lex_persona",
    )
    async with serve(server.app()) as url:
        server.url = url
        yield server


@pytest.fixture
def settings(settings, fake: FakeLexPersona, port: int, temporal_env):
    return settings.model_copy(
        update={
            "signature_backend": SignatureBackend.LEX_PERSONA,
            "lexpersona_base_url": fake.url,
            "lexpersona_token": SecretStr(fake.token),
            "lexpersona_session_user_id": fake.user_id,
            "lexpersona_profile_id": "prof_1",
            "public_url": f"http://127.0.0.1:{port}",
            "temporal_address": temporal_env.client.service_client.config.target_host,
            # No polling within the test: only the notifications can move it.
            "signature_poll_interval": timedelta(hours=1),
            "signature_poll_max_interval": timedelta(hours=1),
        }
    )


@pytest.fixture
async def learner(settings, listening: socket.socket, worker) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": f"Bearer {token_for(sub='lp-learner', roles=[])}"}
    async with (
        serve(create_app(settings), listening) as url,
        httpx.AsyncClient(base_url=url, headers=headers, timeout=30) as client,
    ):
        yield client


async def test_lex_persona_signature_moves_the_order(
    learner: httpx.AsyncClient, factory: Factory, fake: FakeLexPersona
) -> None:
    order = await contract_order(learner, factory)
    link = await submit(learner, order["id"])
    assert link.startswith("https://sign.lex-persona.example/invite/")
    (reference,) = fake.procedures
    assert fake.procedures[reference].status == "started"
    await fake.finish_step(reference, 0)
    await state_is(learner, order["id"], "to_save_payment_method")
    assert (await contract_of(learner, order["id"]))["student_signed_on"] is not None
    saved = await learner.post(f"/api/v1/orders/{order['id']}/payment-method", json=CARD)
    assert saved.json()["state"] == "pending"


async def test_lex_persona_refusal_resets_and_aborts(
    learner: httpx.AsyncClient, factory: Factory, fake: FakeLexPersona
) -> None:
    order = await contract_order(learner, factory)
    await submit(learner, order["id"])
    (reference,) = fake.procedures
    await fake.refuse_step(reference, 0)
    await state_is(learner, order["id"], "to_sign_and_to_save_payment_method")
    assert fake.procedures[reference].status == "stopped"
