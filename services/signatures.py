"""Contracts and their signature: reads, who has signed (asked of the
provider through the signature workflow), and provider notifications."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client

from domain.errors import BadRequest, DomainError, NotFound, error_class
from domain.signatures import Notification, Recipient
from integrations.payloads import strict_json
from integrations.signature.base import SignatureProvider
from integrations.signature.dummy import DummyProcedure, DummySignatureProvider
from models import inbound_events
from models.catalog import list_page
from models.contracts import Contract
from models.orders import Order
from services import workflows
from workflows import signature

logger = logging.getLogger("guichet.signature")

ContractNotFound = error_class(NotFound, "contract_not_found")
UnknownBackend = error_class(NotFound, "unknown_signature_backend")
UnknownAction = error_class(BadRequest, "unknown_action")
# The learner asking "have I signed?" waits this long for the provider's answer.
REFRESH_BUDGET = timedelta(seconds=2)


async def visible(
    *, session: AsyncSession, contract_id: uuid.UUID, owner_id: str | None
) -> Contract:
    """The caller's own contract (`owner_id`; None for an admin, who sees
    any); another's is a 404."""
    query = select(Contract).where(Contract.id == contract_id)
    if owner_id is not None:
        query = query.join(Order, Order.id == Contract.order_id).where(Order.owner_id == owner_id)
    contract = (await session.scalars(query)).one_or_none()
    if contract is None:
        raise ContractNotFound(f"No contract with id {contract_id}.")
    return contract


async def page(
    *, session: AsyncSession, owner_id: str | None, offset: int, limit: int
) -> tuple[int, list[Contract]]:
    """Contracts newest first: a learner's own, or every one (admin, None)."""
    query = select(Contract).order_by(Contract.created_at.desc(), Contract.id)
    if owner_id is not None:
        query = query.join(Order, Order.id == Contract.order_id).where(Order.owner_id == owner_id)
    return await list_page(session=session, query=query, offset=offset, limit=limit)


async def signature_state(
    *, session: AsyncSession, temporal: Client, contract_id: uuid.UUID, owner_id: str | None
) -> Contract:
    """While the contract is out for signature, the signature workflow asks
    the provider first (within REFRESH_BUDGET); otherwise, or if that is
    slow, the contract as recorded (spec 30)."""
    contract = await visible(session=session, contract_id=contract_id, owner_id=owner_id)
    out_for_signature = contract.submitted_for_signature_on and not (
        contract.student_signed_on and contract.organization_signed_on
    )
    if out_for_signature:
        try:
            await workflows.update(
                temporal=temporal,
                run=signature.SignatureWorkflow.run,
                workflow_id=signature.workflow_id(contract_id),
                update=signature.SignatureWorkflow.refresh,
                within=REFRESH_BUDGET,
            )
        except DomainError as error:
            logger.info("signature refresh skipped", extra={"fields": {"reason": error.code}})
        await session.refresh(contract)
    return contract


async def receive(
    *,
    session: AsyncSession,
    temporal: Client,
    source: str,
    notification: Notification,
    payload: Any,
) -> str:
    """A verified provider notification, stored once and signalled to the
    contract's signature workflow in one transaction (if Temporal cannot take
    the signal, nothing is kept and the provider's redelivery gets another
    chance): `duplicate`, `ignored` or `accepted`."""
    is_new = await inbound_events.store_once(
        session=session, source=source, event_id=notification.event_id, payload=payload
    )
    if not is_new:
        return "duplicate"
    contract_id = await session.scalar(
        select(Contract.id).where(Contract.signature_reference == notification.reference)
    )
    if contract_id is None:
        logger.warning(
            "signature webhook for an unknown procedure",
            extra={"fields": {"reference": notification.reference}},
        )
        return "ignored"
    running = await workflows.signal(
        temporal=temporal,
        workflow_id=signature.workflow_id(contract_id),
        signal=signature.SignatureWorkflow.notification,
        argument=notification,
        within=workflows.SIGNAL_BUDGET,
    )
    if not running:
        # The procedure's workflow is over: nothing is waiting for this news.
        logger.info("signature webhook after the procedure ended")
    return "accepted"


async def receive_webhook(
    *,
    session: AsyncSession,
    temporal: Client,
    provider: SignatureProvider,
    configured: str,
    backend: str,
    headers: Mapping[str, str],
    body: bytes,
) -> str:
    """A provider's webhook as it came: for the backend configured here,
    verified by the provider, then received."""
    if backend != configured:
        raise UnknownBackend(f"Signatures are not handled by {backend!r} here.")
    notification = await provider.parse_notification(headers=headers, body=body)
    return await receive(
        session=session,
        temporal=temporal,
        source=f"signature:{backend}",
        notification=notification,
        payload=strict_json(body),
    )


# --- the dummy provider's page (dev and tests) ---------------------------------------


def _dummy(provider: SignatureProvider) -> DummySignatureProvider:
    if not isinstance(provider, DummySignatureProvider):
        raise UnknownBackend("The dummy signature page is off (another backend is in use).")
    return provider


async def dummy_procedure(
    *, provider: SignatureProvider, reference: str, recipient: Recipient, key: str
) -> DummyProcedure:
    return await _dummy(provider).procedure(reference, recipient=recipient, key=key)


async def dummy_act(
    *, provider: SignatureProvider, reference: str, recipient: Recipient, key: str, action: str
) -> str:
    """Sign or refuse as the signer the link was issued to; what the page says."""
    dummy = _dummy(provider)
    await dummy.procedure(reference, recipient=recipient, key=key)
    if action == "refuse":
        await dummy.refuse(reference=reference, recipient=recipient)
        return "Refused."
    if action != "sign":
        raise UnknownAction(f"Unknown action {action!r}: sign or refuse.")
    await dummy.sign(reference=reference, recipient=recipient)
    return "Signed, thank you."
