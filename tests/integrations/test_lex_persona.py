"""The Lex Persona client against the fake server (real HTTP on loopback)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest

from domain.signatures import NotificationEvent, Recipient, Signer
from integrations.documents import checksum, render_contract
from integrations.signature.base import MalformedNotification, Unverifiable
from integrations.signature.lex_persona import LexPersonaSignatureProvider, ProviderUnavailable
from tests.fakes import serve
from tests.fakes.lex_persona import FakeLexPersona

STUDENT = Signer(name="Ada Lovelace", email="ada@example.org")
SIGNATORIES = [Signer(name="Claire Martin", email="claire@univ.example")]


@pytest.fixture
async def fake() -> AsyncIterator[FakeLexPersona]:
    server = FakeLexPersona(token="lp-token", user_id="usr_1")
    async with serve(server.app()) as url:
        server.url = url
        yield server


def provider(fake: FakeLexPersona) -> LexPersonaSignatureProvider:
    return LexPersonaSignatureProvider(
        base_url=fake.url, token=fake.token, user_id=fake.user_id, profile_id="prof_1"
    )


async def _submit(client: LexPersonaSignatureProvider) -> tuple[str, bytes]:
    document = render_contract(title="Contrat", body="", context={"total": "450.00"})
    reference = await client.submit_for_signature(
        title="Contrat",
        document=document,
        checksum=checksum(document),
        student=STUDENT,
        organization_signers=SIGNATORIES,
    )
    return reference, document


async def test_submit_creates_a_started_two_step_procedure(fake: FakeLexPersona) -> None:
    reference, document = await _submit(provider(fake))
    procedure = fake.procedures[reference]
    assert procedure.status == "started"
    assert [step["recipients"][0]["email"] for step in procedure.steps] == [
        "ada@example.org",
        "claire@univ.example",
    ]
    assert procedure.documents == [document]
    assert ("POST", f"/api/workflows/{reference}/parts") in fake.requests


async def test_invitation_state_and_abort(fake: FakeLexPersona) -> None:
    client = provider(fake)
    reference, _ = await _submit(client)
    link = await client.invitation_link(reference=reference, signer=STUDENT)
    assert link.endswith("to=ada@example.org")
    assert (await client.signature_state(reference=reference)).model_dump() == {
        "student": False,
        "organization": False,
        "refused": False,
    }
    await fake.finish_step(reference, 0)
    assert (await client.signature_state(reference=reference)).student is True
    await fake.finish_step(reference, 1)
    assert (await client.signature_state(reference=reference)).fully_signed
    await client.abort(reference=reference)
    assert fake.procedures[reference].status == "stopped"
    await client.abort(reference="wfl_unknown")  # aborting what is gone is no error


async def test_refusal_is_seen(fake: FakeLexPersona) -> None:
    client = provider(fake)
    reference, _ = await _submit(client)
    await fake.refuse_step(reference, 0)
    assert (await client.signature_state(reference=reference)).refused is True


async def test_notifications_are_verified_with_the_service(fake: FakeLexPersona) -> None:
    client = provider(fake)
    reference, _ = await _submit(client)
    event = await fake.finish_step(reference, 0)
    notification = await client.parse_notification(
        headers={}, body=json.dumps({"id": event["id"]}).encode()
    )
    assert notification.reference == reference
    assert notification.event is NotificationEvent.RECIPIENT_FINISHED
    assert notification.recipient is Recipient.STUDENT
    with pytest.raises(Unverifiable):
        await client.parse_notification(headers={}, body=b'{"id": "evt_forged"}')
    with pytest.raises(MalformedNotification):
        await client.parse_notification(headers={}, body=b"not json")


async def test_service_down_is_provider_unavailable() -> None:
    client = LexPersonaSignatureProvider(
        base_url="http://127.0.0.1:1", token="t", user_id="u", profile_id="p"
    )
    with pytest.raises(ProviderUnavailable) as caught:
        await client.signature_state(reference="wfl_1")
    assert caught.value.status == 502
