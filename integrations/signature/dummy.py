"""The embedded default: a signature "provider" that is a page of Guichet.

The invitation link opens `/api/v1/dummy-signature/{reference}`, where the
signer clicks Sign (or Refuse). That records the signature and, like a real
provider, posts a webhook to Guichet after GUICHET_DUMMY_SIGNATURE_WEBHOOK_DELAY
seconds, or drops it with probability GUICHET_DUMMY_SIGNATURE_WEBHOOK_DROP_RATE,
so that the polling path is exercised too. Webhooks carry an HMAC-SHA256 of
the body in `X-Guichet-Signature`.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import secrets
import uuid
from collections.abc import Mapping
from typing import Protocol

import httpx
from pydantic import BaseModel, ValidationError

from domain.errors import NotFound, Unprocessable, error_class
from domain.signatures import (
    Notification,
    NotificationEvent,
    Recipient,
    SignatureState,
    Signer,
)
from integrations.payloads import SIGNATURE_HEADER, is_signed, sign_body, strict_json
from integrations.signature.base import MalformedNotification, Unverifiable

logger = logging.getLogger("guichet.signature.dummy")

WEBHOOK_PATH = "/api/v1/webhooks/signature/dummy"
PAGE_PATH = "/api/v1/dummy-signature"

ProcedureNotFound = error_class(NotFound, "procedure_not_found")
ProcedureClosed = error_class(Unprocessable, "procedure_closed")


def signer_key(*, secret: str, reference: str, recipient: Recipient) -> str:
    """What an invitation link carries to say whom it was issued to: the
    learner's link cannot be turned into the organization's."""
    message = f"{reference}:{recipient.value}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()[:32]


class DummyProcedure(BaseModel):
    reference: str
    title: str
    checksum: str
    student: Signer
    organization_signers: list[Signer]
    student_signed: bool = False
    organization_signed: bool = False
    refused: bool = False
    stopped: bool = False

    @property
    def open(self) -> bool:
        return not (self.stopped or self.refused)


class ProcedureStore(Protocol):
    """Where the procedures live (the database; see models/signatures.py)."""

    async def save(self, procedure: DummyProcedure) -> None: ...

    async def load(self, reference: str) -> DummyProcedure | None: ...


class DummySignatureProvider:
    name = "dummy"

    def __init__(
        self,
        *,
        store: ProcedureStore,
        public_url: str,
        secret: str,
        webhook_delay: float = 0.0,
        webhook_drop_rate: float = 0.0,
    ) -> None:
        self._store = store
        self._public_url = public_url.rstrip("/")
        self._secret = secret
        self._webhook_delay = webhook_delay
        self._webhook_drop_rate = webhook_drop_rate
        self._random = secrets.SystemRandom()
        # Webhooks in flight: kept referenced until sent.
        self._pending: set[asyncio.Task[None]] = set()

    # --- the provider interface -------------------------------------------------------

    async def submit_for_signature(
        self,
        *,
        title: str,
        document: bytes,
        checksum: str,
        student: Signer,
        organization_signers: list[Signer],
    ) -> str:
        reference = f"dummy-{uuid.uuid4().hex}"
        await self._store.save(
            DummyProcedure(
                reference=reference,
                title=title,
                checksum=checksum,
                student=student,
                organization_signers=organization_signers,
            )
        )
        return reference

    async def invitation_link(self, *, reference: str, signer: Signer) -> str:
        procedure = await self._procedure(reference)
        recipient = (
            Recipient.STUDENT if signer.email == procedure.student.email else Recipient.ORGANIZATION
        )
        key = signer_key(secret=self._secret, reference=reference, recipient=recipient)
        return f"{self._public_url}{PAGE_PATH}/{reference}?signer={recipient.value}&key={key}"

    async def signature_state(self, *, reference: str) -> SignatureState:
        procedure = await self._procedure(reference)
        return SignatureState(
            student=procedure.student_signed,
            organization=procedure.organization_signed,
            refused=procedure.refused,
        )

    async def abort(self, *, reference: str) -> None:
        procedure = await self._store.load(reference)
        if procedure is not None and not procedure.stopped:
            await self._store.save(procedure.model_copy(update={"stopped": True}))

    async def parse_notification(self, *, headers: Mapping[str, str], body: bytes) -> Notification:
        given = headers.get(SIGNATURE_HEADER, "")
        if not is_signed(body=body, signature=given, secret=self._secret):
            raise Unverifiable("The notification signature does not match.")
        try:
            return Notification.model_validate(strict_json(body))
        except (ValueError, ValidationError):
            raise MalformedNotification("The notification cannot be read.") from None

    # --- what the sign page does ----------------------------------------------------------

    async def procedure(self, reference: str, *, recipient: Recipient, key: str) -> DummyProcedure:
        """The procedure, for the signer its link was issued to; another key
        reads as no procedure at all."""
        expected = signer_key(secret=self._secret, reference=reference, recipient=recipient)
        if not hmac.compare_digest(key.encode(), expected.encode()):
            raise ProcedureNotFound(f"No signature procedure {reference}.")
        return await self._procedure(reference)

    async def sign(self, *, reference: str, recipient: Recipient) -> None:
        procedure = await self._open_procedure(reference)
        field = "student_signed" if recipient is Recipient.STUDENT else "organization_signed"
        await self._store.save(procedure.model_copy(update={field: True}))
        self._notify(reference, NotificationEvent.RECIPIENT_FINISHED, recipient)

    async def refuse(self, *, reference: str, recipient: Recipient) -> None:
        procedure = await self._open_procedure(reference)
        await self._store.save(procedure.model_copy(update={"refused": True}))
        self._notify(reference, NotificationEvent.RECIPIENT_REFUSED, recipient)

    async def _procedure(self, reference: str) -> DummyProcedure:
        procedure = await self._store.load(reference)
        if procedure is None:
            raise ProcedureNotFound(f"No signature procedure {reference}.")
        return procedure

    async def _open_procedure(self, reference: str) -> DummyProcedure:
        procedure = await self._procedure(reference)
        if not procedure.open:
            raise ProcedureClosed("This signature procedure is closed.")
        return procedure

    def _notify(self, reference: str, event: NotificationEvent, recipient: Recipient) -> None:
        notification = Notification(
            event_id=uuid.uuid4().hex, reference=reference, event=event, recipient=recipient
        )
        if self._random.random() < self._webhook_drop_rate:
            logger.info("dummy webhook dropped", extra={"fields": {"reference": reference}})
            return
        task = asyncio.create_task(self._post_later(notification))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _post_later(self, notification: Notification) -> None:
        await asyncio.sleep(self._webhook_delay)
        body = notification.model_dump_json().encode()
        headers = {
            SIGNATURE_HEADER: sign_body(self._secret, body),
            "content-type": "application/json",
        }
        try:
            async with httpx.AsyncClient(timeout=10) as client:
                await client.post(
                    f"{self._public_url}{WEBHOOK_PATH}", content=body, headers=headers
                )
        except httpx.HTTPError:
            # A provider's webhook may get lost: polling catches up.
            logger.warning("dummy webhook not delivered", exc_info=True)
