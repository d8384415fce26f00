"""Lex Persona-compatible signature service (httpx).

A procedure is a Lex Persona "workflow" with two signature steps, the learner
then the organization's signatories. Its notifications are not signed: one
is trusted only once fetched back from the service with our token.
"""

from __future__ import annotations

from collections.abc import Mapping

import httpx

from domain.errors import DomainError
from domain.signatures import (
    Notification,
    NotificationEvent,
    Recipient,
    SignatureState,
    Signer,
)
from integrations.payloads import strict_json
from integrations.signature.base import MalformedNotification, Unverifiable

EVENTS = {
    "recipientFinished": NotificationEvent.RECIPIENT_FINISHED,
    "recipientRefused": NotificationEvent.RECIPIENT_REFUSED,
}
REFUSED_STATUSES = frozenset({"refused"})


class ProviderUnavailable(DomainError):
    status = 502
    code = "signature_provider_unavailable"


def _recipient(signer: Signer) -> dict[str, str]:
    first, _, last = signer.name.partition(" ")
    return {"email": signer.email, "firstName": first or signer.name, "lastName": last or first}


class LexPersonaSignatureProvider:
    name = "lex_persona"

    def __init__(
        self,
        *,
        base_url: str,
        token: str,
        user_id: str,
        profile_id: str,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._user_id = user_id
        self._profile_id = profile_id
        self._client = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {token}"},
            timeout=httpx.Timeout(20.0, connect=5.0),
            transport=transport,
        )

    async def _call(self, method: str, path: str, **kwargs: object) -> dict:
        try:
            response = await self._client.request(method, path, **kwargs)  # type: ignore[arg-type]
        except httpx.HTTPError as error:
            raise ProviderUnavailable(f"Lex Persona unreachable: {type(error).__name__}") from None
        if response.status_code >= 500:
            raise ProviderUnavailable(f"Lex Persona answered {response.status_code}.")
        response.raise_for_status()
        return response.json() if response.content else {}

    async def submit_for_signature(
        self,
        *,
        title: str,
        document: bytes,
        checksum: str,
        student: Signer,
        organization_signers: list[Signer],
    ) -> str:
        steps = [
            {"stepType": "signature", "recipients": [_recipient(student)], "requiredRecipients": 1},
            {
                "stepType": "signature",
                "recipients": [_recipient(item) for item in organization_signers],
                "requiredRecipients": 1,
            },
        ]
        created = await self._call(
            "POST",
            f"/api/users/{self._user_id}/workflows",
            json={
                "name": title,
                "description": f"sha256:{checksum}",
                "steps": steps,
                "notifiedEvents": list(EVENTS),
            },
        )
        reference = str(created["id"])
        await self._call(
            "POST",
            f"/api/workflows/{reference}/parts",
            params={
                "createDocuments": "true",
                "ignoreAttachments": "false",
                "signatureProfileId": self._profile_id,
                "unzip": "false",
                "pdf2pdfa": "auto",
            },
            content=document,
            headers={"Content-Type": "application/pdf"},
        )
        await self._call("PATCH", f"/api/workflows/{reference}", json={"workflowStatus": "started"})
        return reference

    async def invitation_link(self, *, reference: str, signer: Signer) -> str:
        invited = await self._call(
            "POST", f"/api/workflows/{reference}/invite", json={"recipientEmail": signer.email}
        )
        return str(invited["inviteUrl"])

    async def signature_state(self, *, reference: str) -> SignatureState:
        procedure = await self._call("GET", f"/api/workflows/{reference}")
        steps = procedure.get("steps") or []
        return SignatureState(
            student=bool(steps and steps[0].get("isFinished")),
            organization=bool(len(steps) > 1 and steps[-1].get("isFinished")),
            refused=procedure.get("workflowStatus") in REFUSED_STATUSES,
        )

    async def abort(self, *, reference: str) -> None:
        try:
            await self._call(
                "PATCH", f"/api/workflows/{reference}", json={"workflowStatus": "stopped"}
            )
        except httpx.HTTPStatusError as error:
            if error.response.status_code not in {404, 409}:
                raise

    async def parse_notification(self, *, headers: Mapping[str, str], body: bytes) -> Notification:
        try:
            event_id = str(strict_json(body)["id"])
            Notification.check_event_id(event_id)
        except (ValueError, KeyError, TypeError):
            raise MalformedNotification("The notification cannot be read.") from None
        try:
            event = await self._call("GET", f"/api/webhookEvents/{event_id}")
        except httpx.HTTPStatusError:
            raise Unverifiable("Lex Persona does not know this notification.") from None
        if event.get("eventType") not in EVENTS:
            raise MalformedNotification(f"Unknown event type {event.get('eventType')!r}.")
        step = event.get("stepIndex")
        recipient = (
            None if step is None else (Recipient.STUDENT if step == 0 else Recipient.ORGANIZATION)
        )
        return Notification(
            event_id=event_id,
            reference=str(event["workflowId"]),
            event=EVENTS[event["eventType"]],
            recipient=recipient,
        )
